"""`redisbackup create-access-key` / `delete-access-key`: access keys of the ElastiCache API (`redisbackup serve`).

    redisbackup create-access-key -n redisbackup --service-account team-a/backup-bot
    redisbackup create-access-key -n redisbackup --user alice --work-namespace team-a
    redisbackup delete-access-key -n redisbackup --access-key-id RBKQ4WZ3T5XN2MDEV7LA

A key is a Secret in the API server's namespace (only administrators may write there), bound to a Kubernetes
identity and the namespace its snapshots are in; every call made with it is made as that identity, so what it may
do is what the identity's RBAC allows. `create-access-key` prints the key once, as `aws iam create-access-key`
does (the secret is not shown again: `kubectl get secret` can, for whoever may read Secrets there). Deleting the
Secret — `delete-access-key`, or `kubectl delete secret` — revokes the key within seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.cli.aws import add_operation_parser, operate
from redisbackup.cli.commands import summary
from redisbackup.domain.faults import ValidationFault
from redisbackup.k8s import access_keys
from redisbackup.k8s import client as kubernetes_client
from redisbackup.k8s.access_keys import AccessKey
from redisbackup.k8s.identity import service_account_user


class AccessKeyNotFound(ValidationFault):
    code = FaultCode.INVALID_PARAMETER_VALUE


KEYS_NAMESPACE_HELP = (
    "namespace of the API server's access key Secrets (the chart's release namespace); default: kubectl's"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = add_operation_parser(
        subparsers,
        "create-access-key",
        help=summary("create-access-key"),
        description=__doc__ or "",
        namespace_help=KEYS_NAMESPACE_HELP,
    )
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--service-account", metavar="NS/NAME", help="calls are made as this ServiceAccount")
    who.add_argument("--user", metavar="NAME", help="calls are made as this Kubernetes user")
    create.add_argument(
        "--work-namespace",
        metavar="NS",
        help="namespace of the key's snapshots and Redis workloads (default: the ServiceAccount's; needed with --user)",
    )
    create.add_argument("--access-key-id", metavar="ID", help="use this id instead of a new random one")
    create.add_argument("--secret-access-key", metavar="SECRET", help="use this secret instead of a new random one")
    create.set_defaults(handler=run_create)

    delete = add_operation_parser(
        subparsers,
        "delete-access-key",
        help=summary("delete-access-key"),
        description=__doc__ or "",
        namespace_help=KEYS_NAMESPACE_HELP,
    )
    delete.add_argument("--access-key-id", required=True, metavar="ID", help="the key to revoke")
    delete.set_defaults(handler=run_delete)


def _keys_namespace(args: argparse.Namespace) -> str:
    kubernetes_client.select(args.kubeconfig, args.context)
    return str(args.namespace or kubernetes_client.current_namespace())


def _new_key(args: argparse.Namespace) -> tuple[AccessKey, str | None]:
    key_id = args.access_key_id or access_keys.new_key_id()
    secret = args.secret_access_key or access_keys.new_secret()
    if args.service_account:
        namespace, _, name = args.service_account.rpartition("/")
        if not namespace or not name:
            raise ValidationFault(
                f"--service-account {args.service_account!r}: write NAMESPACE/NAME", field="--service-account"
            )
        return AccessKey(key_id, secret, service_account_user(namespace, name), args.work_namespace or namespace), (
            args.service_account
        )
    if not args.work_namespace:
        raise ValidationFault("--user needs --work-namespace: where its calls work", field="--work-namespace")
    return AccessKey(key_id, secret, args.user, args.work_namespace), None


def run_create(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        namespace = _keys_namespace(args)
        key, service_account = _new_key(args)
        created = access_keys.create(
            namespace, key, service_account=service_account, client=kubernetes_client.api_client()
        )
        return {
            "AccessKey": {
                "UserName": key.user,
                "AccessKeyId": key.access_key_id,
                "Status": "Active",
                "SecretAccessKey": key.secret_access_key,
                "CreateDate": created["metadata"].get("creationTimestamp")
                or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "Namespace": key.namespace,
                "Secret": f"{namespace}/{created['metadata']['name']}",
            }
        }

    return operate("CreateAccessKey", args, call)


def run_delete(args: argparse.Namespace) -> int:
    def call() -> None:
        namespace = _keys_namespace(args)
        client = kubernetes_client.api_client()
        found = access_keys.find(namespace, args.access_key_id, client)
        if found is None:
            raise AccessKeyNotFound(
                f"no access key {args.access_key_id} in namespace {namespace} (no Secret "
                f"{access_keys.secret_name(args.access_key_id)}); is -n the API server's namespace?",
                field="--access-key-id",
            )
        access_keys.delete(namespace, found["metadata"]["name"], client)

    return operate("DeleteAccessKey", args, call)
