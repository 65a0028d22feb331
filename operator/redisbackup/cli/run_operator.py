"""`redisbackup operator`: run the operator (kopf) with our settings: scope, peering, the admission webhook.

Every flag has an environment variable (the Helm chart sets those); a flag wins over its variable, and both win
over the configuration file (`--config`, env REDISBACKUP_CONFIG; read by redisbackup.cli.config_file, its format
is redisbackup.api.config).
"""

# Not named `operator.py`: a module of that name could shadow the standard library's `operator`.

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from redisbackup.api.config import OperatorConfig
from redisbackup.cli.commands import summary
from redisbackup.cli.config_file import load_config
from redisbackup.cli.options import CONFIG_ENV, listen_address
from redisbackup.k8s import prefetch
from redisbackup.workflows.clock import CLOCK_ENV, parse_clock

if TYPE_CHECKING:
    from redisbackup.main import OperatorOptions
    from redisbackup.servers.webhook import SecretRef, ServiceRef, WebhookOptions
    from redisbackup.servers.webhook_certificates import CertificatePolicy

# main sits above cli in the layers; this command is the launcher that runs its wiring, as `kopf run -m` would
# (the one exception in the import-linter contract). It and the webhook's server (kopf, aiohttp, cryptography: a
# second or more of the operator's start) are imported in `handle`, after the first listing of RedisBackups has
# begun (k8s.prefetch): a restart with 10,000 serves after both, so they run at once.

ENV_PREFIX = "REDISBACKUP_"
# Replicas draw their priority below this; an operator a developer starts with a higher one pauses them all.
RANDOM_PRIORITY_MAX = 1_000_000


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in (_env(name) or "").split(",") if item.strip()]


def _env_flag(name: str, default: bool) -> bool:
    value = _env(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def _priority(text: str) -> int:
    """An integer, or `random`: kopf pauses *every* operator when two live ones share the highest priority, so
    the replicas of one Deployment each draw their own (two of a million collide about once in 10^6 starts)."""
    if text.strip().lower() == "random":
        return secrets.randbelow(RANDOM_PRIORITY_MAX) + 1
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an integer nor `random`") from None


def _service(text: str) -> ServiceRef:
    from redisbackup.servers.webhook import ServiceRef

    try:
        return ServiceRef.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _secret(text: str) -> SecretRef:
    from redisbackup.servers.webhook import SecretRef

    try:
        return SecretRef.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "operator",
        help=summary("operator"),
        description=__doc__,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get(CONFIG_ENV),
        metavar="FILE",
        help=f"the configuration file: storage locations, limits, ports (env {CONFIG_ENV}); default: one embedded "
        "file location in REDISBACKUP_DATA_DIR or /var/lib/redisbackup",
    )
    _add_scope_arguments(parser)
    _add_webhook_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true", help="log everything, including kopf's internals")
    parser.set_defaults(handler=handle)


def _add_scope_arguments(parser: argparse.ArgumentParser) -> None:
    """Which namespaces, and how several replicas share the work (peering) and report liveness."""
    scope = parser.add_argument_group("scope")
    scope.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        default=None,
        help="serve only this namespace (repeatable; env REDISBACKUP_NAMESPACES=a,b); default: all namespaces",
    )
    scope.add_argument(
        "--peering",
        default=_env("PEERING"),
        help="kopf peering name, for several replicas of which one is active (env REDISBACKUP_PEERING); "
        "default: standalone",
    )
    scope.add_argument(
        "--priority",
        type=_priority,
        default=_env("PRIORITY", "0"),
        help="peering priority: the live operator with the highest one works, the others wait; `random` draws one "
        f"in 1..{RANDOM_PRIORITY_MAX} (what the chart's replicas use) (env REDISBACKUP_PRIORITY); default 0",
    )
    scope.add_argument(
        "--liveness", default=_env("LIVENESS"), help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )


def _add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the admission webhook listens, how the apiserver reaches it, its certificates and configuration."""
    hook = parser.add_argument_group("admission webhook")
    hook.add_argument(
        "--no-webhook",
        dest="webhook",
        action="store_false",
        default=_env_flag("WEBHOOK", True),
        help="do not serve the admission webhook (env REDISBACKUP_WEBHOOK=false)",
    )
    hook.add_argument(
        "--webhook-listen",
        type=listen_address,
        default=_env("WEBHOOK_LISTEN", "127.0.0.1:9443"),  # argparse applies `type` to string defaults
        metavar="HOST:PORT",
        help="where the webhook listens (env REDISBACKUP_WEBHOOK_LISTEN); default 127.0.0.1:9443",
    )
    where = hook.add_mutually_exclusive_group()
    where.add_argument(
        "--webhook-url",
        default=_env("WEBHOOK_URL"),
        help="URL the apiserver calls (env REDISBACKUP_WEBHOOK_URL); default https://HOST:PORT of --webhook-listen",
    )
    where.add_argument(
        "--webhook-service",
        type=_service,
        default=_env("WEBHOOK_SERVICE"),
        metavar="NAMESPACE/NAME[:PORT]",
        help="Service the apiserver calls, in a cluster (env REDISBACKUP_WEBHOOK_SERVICE)",
    )
    hook.add_argument(
        "--webhook-cert-dir",
        type=Path,
        default=_env("WEBHOOK_CERT_DIR"),
        help="directory with tls.crt, tls.key and ca.crt (e.g. a cert-manager Secret), reloaded when they change "
        "(env REDISBACKUP_WEBHOOK_CERT_DIR); default: make a CA and certificate in memory and rotate them",
    )
    hook.add_argument(
        "--webhook-ca-secret",
        type=_secret,
        default=_env("WEBHOOK_CA_SECRET"),
        metavar="NAMESPACE/NAME",
        help="Secret in which the operator's Pods share the CA they generate (get and patch on it), so every Pod's "
        "certificate is trusted during rollouts and with several replicas (env REDISBACKUP_WEBHOOK_CA_SECRET); "
        "default: a CA of this process's own",
    )
    hook.add_argument(
        "--webhook-host",
        dest="webhook_hosts",
        action="append",
        default=None,
        help="extra DNS name or IP for the generated certificate (repeatable; env REDISBACKUP_WEBHOOK_HOSTS)",
    )
    hook.add_argument(
        "--webhook-configuration",
        default=_env("WEBHOOK_CONFIGURATION", "redisbackup-validating-webhook"),
        help="name of the ValidatingWebhookConfiguration to write (env REDISBACKUP_WEBHOOK_CONFIGURATION); "
        "default redisbackup-validating-webhook",
    )
    hook.add_argument(
        "--no-webhook-configuration",
        dest="manage_configuration",
        action="store_false",
        default=_env_flag("WEBHOOK_MANAGE_CONFIGURATION", True),
        help="leave the ValidatingWebhookConfiguration to someone else, e.g. the chart "
        "(env REDISBACKUP_WEBHOOK_MANAGE_CONFIGURATION=false)",
    )
    hook.add_argument(
        "--webhook-timeout",
        type=int,
        choices=range(1, 31),
        default=_env("WEBHOOK_TIMEOUT", "10"),
        metavar="SECONDS",
        help="apiserver's timeout for one admission call, 1-30 (env REDISBACKUP_WEBHOOK_TIMEOUT); default 10",
    )
    hook.add_argument(
        "--webhook-stop-grace",
        type=float,
        default=_env("WEBHOOK_STOP_GRACE", "0"),
        metavar="SECONDS",
        help="when stopping, answer this much longer, closing each connection after its answer, so the apiserver "
        "moves to another Pod without a failed call (env REDISBACKUP_WEBHOOK_STOP_GRACE); default 0",
    )


def certificate_policy() -> CertificatePolicy:
    from redisbackup.servers.webhook_certificates import CertificatePolicy

    """Lifetimes of the generated certificates; the variables exist for tests and for strict security policies."""
    defaults = CertificatePolicy()

    def seconds(name: str, default: dt.timedelta) -> dt.timedelta:
        value = _env(name)
        return dt.timedelta(seconds=float(value)) if value else default

    return CertificatePolicy(
        ca_validity=seconds("WEBHOOK_CA_VALIDITY_SECONDS", defaults.ca_validity),
        cert_validity=seconds("WEBHOOK_CERT_VALIDITY_SECONDS", defaults.cert_validity),
        renew_before=seconds("WEBHOOK_CERT_RENEW_BEFORE_SECONDS", defaults.renew_before),
    )


def _pod_family_any() -> str:
    """Every address of the family the kubelet probes: the Pod's IP's (POD_IP, from the downward API).

    kopf serves the liveness probe on one address family only (asyncio makes an IPv6 socket IPv6-only), so "every
    address" means every IPv6 address on an IPv6 (or IPv6-first) Pod, every IPv4 address otherwise.
    """
    return "::" if ":" in os.environ.get("POD_IP", "") else "0.0.0.0"


def scope(args: argparse.Namespace, config: OperatorConfig) -> tuple[str, ...]:
    """The namespaces served (none: all)."""
    return tuple(dict.fromkeys(args.namespaces or _env_list("NAMESPACES") or config.namespaces))


def options_from(args: argparse.Namespace, config: OperatorConfig | None = None) -> OperatorOptions:
    from redisbackup.main import OperatorOptions

    config = config if config is not None else load_config(args.config)
    namespaces = scope(args, config)
    liveness = args.liveness
    if liveness is None and config.health.port:
        host = config.health.host or _pod_family_any()
        liveness = f"http://{f'[{host}]' if ':' in host else host}:{config.health.port}/healthz"
    return OperatorOptions(
        namespaces=namespaces,
        peering=args.peering,
        priority=args.priority,
        liveness_endpoint=liveness,
        webhook=webhook_options(args, namespaces) if args.webhook else None,
        verbose=args.verbose,
        debug=args.debug,
        config=config,
        clock=parse_clock(os.environ.get(CLOCK_ENV)),
    )


def webhook_options(args: argparse.Namespace, namespaces: tuple[str, ...]) -> WebhookOptions:
    from redisbackup.servers.webhook import WebhookOptions

    host, port = args.webhook_listen
    webhook = WebhookOptions(
        listen_host=host,
        listen_port=port,
        url=args.webhook_url,
        service=args.webhook_service,
        cert_dir=args.webhook_cert_dir,
        ca_secret=args.webhook_ca_secret,
        extra_hosts=tuple(args.webhook_hosts or _env_list("WEBHOOK_HOSTS")),
        configuration_name=args.webhook_configuration,
        manage_configuration=args.manage_configuration,
        timeout_seconds=args.webhook_timeout,
        stop_grace_seconds=args.webhook_stop_grace,
        namespaces=namespaces,
        policy=certificate_policy(),
    )
    if webhook.service is None:
        webhook.base_url()  # raises now for a listen address the apiserver cannot call
    if args.peering and webhook.cert_dir is None and webhook.ca_secret is None and webhook.manage_configuration:
        # Every replica serves the webhook behind the Service; each would publish its own generated CA.
        print(
            "redisbackup operator: warning: with --peering, several replicas serve the webhook: let them share "
            "their CA with --webhook-ca-secret, or give them certificates with --webhook-cert-dir",
            file=sys.stderr,
        )
    return webhook


def handle(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        # Before the operator's libraries are imported (see the imports above): the first listing's pages.
        prefetch.start(scope(args, config) or (None,), prefetch.LIST_PAGE_SIZE)
        options = options_from(args, config)
    except ValueError as error:
        print(f"redisbackup operator: {error}", file=sys.stderr)
        return 2
    from redisbackup.main import run

    run(options)
    return 0
