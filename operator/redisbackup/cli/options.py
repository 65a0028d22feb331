"""Command-line options several commands share: TLS towards Redis, S3 endpoints, the operator's configuration."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when used: the Kubernetes commands share this module and never connect to Redis
    from redisbackup.domain.source import TlsSettings

# The environment variable naming the operator's configuration file. Here, not in config_file, so that
# the commands that only name the file do not import the configuration models (start-up time).
CONFIG_ENV = "REDISBACKUP_CONFIG"


def listen_address(text: str) -> tuple[str, int]:
    """An argparse type: HOST:PORT (an IPv6 host in brackets) → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS towards Redis")
    group.add_argument("--tls", action="store_true", help="connect with TLS (implied by rediss://)")
    group.add_argument("--ca", metavar="FILE", help="CA bundle that signed the server certificate")
    group.add_argument("--cert", metavar="FILE", help="client certificate, for servers with tls-auth-clients yes")
    group.add_argument("--key", metavar="FILE", help="key of the client certificate")
    group.add_argument("--tls-server-name", metavar="NAME", help="name to verify instead of the host")
    group.add_argument("--insecure", action="store_true", help="do not verify the server certificate (testing only)")


def tls_settings(args: argparse.Namespace, *, implied: bool = False) -> TlsSettings | None:
    """TLS when asked for (--tls, --ca, --cert, or `implied` by a rediss:// URL), else None."""
    if not (implied or args.tls or args.ca or args.cert):
        return None
    from redisbackup.domain.source import TlsSettings

    return TlsSettings(
        ca_file=args.ca,
        cert_file=args.cert,
        key_file=args.key,
        server_name=args.tls_server_name,
        verify=not args.insecure,
    )


def add_s3_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3 (for s3:// URLs; credentials from the AWS environment or profile)")
    group.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint for S3-compatible servers")
    group.add_argument("--region", help="S3 region (default: from the AWS configuration)")


def s3_options(args: argparse.Namespace) -> dict[str, Any]:
    return {key: value for key, value in (("endpoint_url", args.endpoint_url), ("region", args.region)) if value}


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get(CONFIG_ENV),
        metavar="FILE",
        help=f"the operator's configuration file, for its storage locations and credentials (env {CONFIG_ENV})",
    )


def add_kubernetes_arguments(parser: argparse.ArgumentParser, *, namespace_help: str) -> None:
    group = parser.add_argument_group("Kubernetes (as kubectl: KUBECONFIG, or the Pod's service account)")
    group.add_argument("-n", "--namespace", help=namespace_help)
    group.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
    group.add_argument("--context", help="kubeconfig context (default: the current one)")
