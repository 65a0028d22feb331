"""`redisbackup serve`: the ElastiCache API (Query API, version 2015-02-02) over HTTPS, for `aws elasticache`,
boto3 and every SDK, pointed at it with --endpoint-url (or AWS_ENDPOINT_URL_ELASTICACHE).

    redisbackup serve --listen 0.0.0.0:8443 --region us-east-1 --keys-namespace redisbackup

Every request is signed (SigV4) with an access key from a Secret in --keys-namespace (`redisbackup
create-access-key`), and is made as the key's Kubernetes identity: the server impersonates it, so the apiserver's
RBAC decides what each key may do. With --console, the same server serves the console at /console/: users sign
in with their own Kubernetes token and act as themselves. Every flag has an environment variable
(REDISBACKUP_API_…; the Helm chart sets those); a flag wins over its variable.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from redisbackup.cli.commands import summary
from redisbackup.cli.options import listen_address
from redisbackup.k8s import client as kubernetes_client

if TYPE_CHECKING:  # the server (aiohttp, botocore) is imported when it runs, not for every other command
    from redisbackup.web.serve import ServeOptions

ENV_PREFIX = "REDISBACKUP_API_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help=summary("serve"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen",
        type=listen_address,
        default=_env("LISTEN", "127.0.0.1:8443"),
        metavar="HOST:PORT",
        help="HTTPS address (env REDISBACKUP_API_LISTEN); default 127.0.0.1:8443",
    )
    parser.add_argument(
        "--metrics-listen",
        type=listen_address,
        default=_env("METRICS_LISTEN"),
        metavar="HOST:PORT",
        help="plain-HTTP address of /metrics and /healthz (env REDISBACKUP_API_METRICS_LISTEN); default: none",
    )
    parser.add_argument(
        "--region",
        default=_env("REGION", "us-east-1"),
        help="the region clients sign for and ARNs name (env REDISBACKUP_API_REGION); default us-east-1",
    )
    parser.add_argument(
        "--keys-namespace",
        default=_env("KEYS_NAMESPACE"),
        metavar="NS",
        help="namespace of the access key Secrets (env REDISBACKUP_API_KEYS_NAMESPACE); default: the Pod's own, "
        "else the kubeconfig's",
    )
    parser.add_argument(
        "--session-tokens",
        action=argparse.BooleanOptionalAction,
        default=(_env("SESSION_TOKENS", "false") or "").lower() in ("1", "true", "yes"),
        help="also accept a Kubernetes token as the session token (AWS_SESSION_TOKEN), checked with TokenReview "
        "(env REDISBACKUP_API_SESSION_TOKENS)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--accept-timeout",
        type=_positive,
        default=_env("ACCEPT_TIMEOUT", "20"),
        metavar="SECONDS",
        help="how long CreateSnapshot/CopySnapshot wait for the operator's answer (default 20)",
    )
    limits.add_argument(
        "--rate",
        type=_positive,
        default=_env("RATE", "10"),
        metavar="PER_SECOND",
        help="requests per second per access key, on average (env REDISBACKUP_API_RATE); default 10",
    )
    limits.add_argument(
        "--burst",
        type=int,
        default=_env("BURST", "40"),
        help="requests an access key may make at once (env REDISBACKUP_API_BURST); default 40",
    )
    limits.add_argument(
        "--max-body",
        type=int,
        default=_env("MAX_BODY", str(64 * 1024)),
        metavar="BYTES",
        help="largest request body (env REDISBACKUP_API_MAX_BODY); default 65536",
    )
    tls = parser.add_argument_group("certificates")
    tls.add_argument(
        "--tls-cert-dir",
        type=Path,
        default=_env("TLS_CERT_DIR"),
        metavar="DIR",
        help="directory with tls.crt and tls.key (a mounted Secret, e.g. cert-manager's), reloaded when renewed "
        "(env REDISBACKUP_API_TLS_CERT_DIR); default: make a CA and a certificate and rotate them",
    )
    tls.add_argument(
        "--tls-host",
        dest="tls_hosts",
        action="append",
        default=None,
        metavar="NAME",
        help="a DNS name or IP the generated certificate is valid for (repeatable; env REDISBACKUP_API_TLS_HOSTS "
        "a,b); default: localhost and the listen address",
    )
    tls.add_argument(
        "--ca-file",
        type=Path,
        default=_env("CA_FILE"),
        metavar="FILE",
        help="write the generated CA bundle here, for clients' AWS_CA_BUNDLE (env REDISBACKUP_API_CA_FILE)",
    )
    tls.add_argument(
        "--ca-configmap",
        default=_env("CA_CONFIGMAP"),
        metavar="NAME",
        help="publish the generated CA bundle in this ConfigMap of the keys namespace, key ca.crt "
        "(env REDISBACKUP_API_CA_CONFIGMAP)",
    )
    console = parser.add_argument_group("console")
    console.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=(_env("CONSOLE", "false") or "").lower() in ("1", "true", "yes"),
        help="also serve the console at /console/ (env REDISBACKUP_API_CONSOLE)",
    )
    console.add_argument(
        "--console-session-key-file",
        type=Path,
        default=_env("CONSOLE_SESSION_KEY_FILE"),
        metavar="FILE",
        help="a key of 32 bytes or more that seals the console's sessions, shared by replicas (a mounted Secret; "
        "env REDISBACKUP_API_CONSOLE_SESSION_KEY_FILE); default: a key of this process",
    )
    console.add_argument(
        "--console-namespace",
        default=_env("CONSOLE_NAMESPACE", "default"),
        metavar="NS",
        help="namespace shown first to users who are not a ServiceAccount (env REDISBACKUP_API_CONSOLE_NAMESPACE)",
    )
    console.add_argument(
        "--console-location",
        dest="console_locations",
        action="append",
        default=None,
        metavar="NAME",
        help="a storage location offered as a Copy target (repeatable; env REDISBACKUP_API_CONSOLE_LOCATIONS a,b)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.set_defaults(handler=handle)


def options_from(args: argparse.Namespace) -> ServeOptions:
    from redisbackup.console.context import ConsoleSettings
    from redisbackup.web.serve import ConsoleOptions, ServeOptions, TlsOptions

    host, port = args.listen
    metrics_host, metrics_port = args.metrics_listen or ("127.0.0.1", 0)
    namespace = args.keys_namespace or kubernetes_client.current_namespace()
    hosts = args.tls_hosts or [h.strip() for h in (_env("TLS_HOSTS") or "").split(",") if h.strip()]
    default_hosts = ["localhost", *([host] if host not in ("0.0.0.0", "::", "") else ["127.0.0.1"])]
    locations = args.console_locations or [
        name.strip() for name in (_env("CONSOLE_LOCATIONS") or "").split(",") if name.strip()
    ]
    console = ConsoleOptions(
        session_key_file=args.console_session_key_file,
        settings=ConsoleSettings(
            default_namespace=args.console_namespace,
            accept_timeout=args.accept_timeout,
            locations=tuple(locations),
        ),
    )
    return ServeOptions(
        console=console if args.console else None,
        listen_host=host,
        listen_port=port,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        region=args.region,
        keys_namespace=namespace,
        session_tokens=args.session_tokens,
        accept_timeout=args.accept_timeout,
        rate=args.rate,
        burst=args.burst,
        max_body=args.max_body,
        skew=dt.timedelta(minutes=15),
        tls=TlsOptions(
            cert_dir=args.tls_cert_dir,
            hosts=tuple(dict.fromkeys(hosts or default_hosts)),
            ca_file=args.ca_file,
            ca_configmap=args.ca_configmap,
            namespace=namespace,
        ),
    )


def handle(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from redisbackup.web.serve import serve

    asyncio.run(serve(options_from(args)))
    return 0
