"""What the `aws elasticache`-shaped commands share: output formats, aws's error line and its exit codes.

    $ redisbackup delete-snapshot --snapshot-name nope

    An error occurred (SnapshotNotFoundFault) when calling the DeleteSnapshot operation: Snapshot nope not found …

Exit status, as aws's return codes: 0 success; 130 interrupted (Ctrl-C); 252 an invalid command line; 253 no
usable Kubernetes configuration (aws: missing configuration or credentials); 254 the request reached the API and
was refused (a fault, printed as above); 255 anything else (the API unreachable, an unexpected error).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any

from redisbackup.cli.options import add_kubernetes_arguments
from redisbackup.cli.render import FORMATS, render
from redisbackup.domain.faults import RedisBackupError
from redisbackup.elasticache.caller import Caller
from redisbackup.k8s import client as kubernetes_client
from redisbackup.k8s.client import KubeconfigInvalid
from redisbackup.k8s.faults import KubernetesUnavailable

EXIT_OK, EXIT_USAGE, EXIT_CONFIG, EXIT_SERVICE, EXIT_OTHER, EXIT_INTERRUPTED = 0, 252, 253, 254, 255, 130


def add_operation_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str,
    namespace_help: str = "namespace of the RedisBackups (default: as kubectl)",
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help=help, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.usage_exit_code = EXIT_USAGE  # type: ignore[attr-defined]  # see cli.main.CommandParser
    parser.add_argument("--output", choices=FORMATS, default="json", help="output format (default: json)")
    add_kubernetes_arguments(parser, namespace_help=namespace_help)
    return parser


def namespace_of(args: argparse.Namespace) -> str:
    """Select the kubeconfig/context the arguments name; the namespace they name, else kubectl's."""
    kubernetes_client.select(args.kubeconfig, args.context)
    return str(args.namespace or kubernetes_client.current_namespace())


def caller_of(args: argparse.Namespace, *, custom_objects_only: bool = False) -> Caller:
    """The CLI calls the core as its kubeconfig's user, in the namespace the arguments name (else kubectl's).

    `custom_objects_only`: the operation reads and writes RedisBackups only, so the light REST client serves it
    (see redisbackup.k8s.client.cli_client): the command starts without importing the official client."""
    namespace = namespace_of(args)
    client = kubernetes_client.cli_client() if custom_objects_only else kubernetes_client.api_client()
    return Caller(client, namespace, identity="the kubeconfig's user")


def error_line(fault: RedisBackupError, operation: str) -> str:
    return f"An error occurred ({fault.code}) when calling the {operation} operation: {fault.message}"


def operate(operation: str, args: argparse.Namespace, call: Callable[[], Mapping[str, Any] | None]) -> int:
    """Run `call`, print its document in the chosen format, and map what goes wrong onto aws's exit codes."""
    try:
        document = call()
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KubeconfigInvalid as fault:
        print(f"\n{fault.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KubernetesUnavailable as fault:
        print(f"\nCould not reach the Kubernetes API: {fault.message}", file=sys.stderr)
        return EXIT_OTHER
    except OperationFailed as failed:
        if failed.document is not None:
            print(render(failed.document, args.output, title=operation))
        print(f"\n{error_line(failed.fault, operation)}", file=sys.stderr)
        return EXIT_SERVICE
    except RedisBackupError as fault:
        print(f"\n{error_line(fault, operation)}", file=sys.stderr)
        return EXIT_SERVICE
    if document is not None:
        print(render(document, args.output, title=operation))
    return EXIT_OK


class OperationFailed(Exception):
    """The request was accepted but what it started failed (a snapshot that failed while waiting): print the
    document as it is now, then the fault."""

    def __init__(self, fault: RedisBackupError, document: Mapping[str, Any] | None) -> None:
        super().__init__(str(fault))
        self.fault = fault
        self.document = document
