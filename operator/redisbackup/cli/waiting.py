"""Creating a RedisBackup and waiting for the operator, as create-snapshot and copy-snapshot do: its answer
(accepted, or refused: then the RedisBackup is removed again and the fault raised, as ElastiCache's API answers),
and with --wait the end of the snapshot, with a progress line on a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from redisbackup.cli.aws import OperationFailed
from redisbackup.cli.progress import ProgressLine, terminal_progress
from redisbackup.domain import acceptance
from redisbackup.domain.acceptance import phase
from redisbackup.domain.elasticache import snapshot_document_from_body
from redisbackup.domain.faults import RedisBackupError
from redisbackup.k8s.faults import RequestRejected
from redisbackup.k8s.redisbackups import create_backup, delete_backup, get_backup

POLL_SECONDS = 0.5


def show(progress: ProgressLine | None, body: Mapping[str, Any]) -> None:
    if progress is None:
        return
    done = ((body.get("status") or {}).get("progress") or {}).get("bytesDone")
    total = ((body.get("status") or {}).get("progress") or {}).get("bytesTotal")
    if done:
        progress(int(done), int(total) if total else None)
    else:
        progress.message(f"snapshot {phase(body)}")


def watch(
    namespace: str,
    name: str,
    until: Callable[[Mapping[str, Any]], bool],
    *,
    timeout: float | None,
    progress: ProgressLine | None = None,
) -> tuple[dict[str, Any] | None, bool]:
    """Poll RedisBackup `namespace/name` until `until(body)`: (the last body or None when it is gone, whether
    `until` became true before `timeout` seconds, None: no limit)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        body = get_backup(namespace, name)
        if body is None:
            return None, False
        show(progress, body)
        if until(body):
            return body, True
        if deadline is not None and time.monotonic() >= deadline:
            return body, False
        time.sleep(POLL_SECONDS)


def add_waiting_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    waiting = parser.add_argument_group("waiting")
    waiting.add_argument("--wait", action="store_true", help=f"wait until the {what} is available (or failed)")
    waiting.add_argument(
        "--accept-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the operator to accept or refuse the request (default 30; 0: do not wait)",
    )
    waiting.add_argument("--wait-timeout", type=float, metavar="SECONDS", help="limit for --wait (default: none)")


def create(namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return create_backup(namespace, body)
    except RequestRejected as fault:
        if fault.code == "SnapshotAlreadyExistsFault" and "already exists" in fault.message:
            raise RequestRejected(
                f"Snapshot with specified name [{body['spec']['snapshotName']}] already exists in namespace "
                f"{namespace}: choose another name, or delete that snapshot first",
                code=fault.code,
            ) from None
        raise


def accept(namespace: str, name: str, created: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Wait for the operator's answer; a refused request is deleted again and raised (ElastiCache refuses it)."""
    if timeout <= 0:
        return created
    body, answered = watch(
        namespace, name, lambda b: acceptance.accepted(b) or acceptance.refusal(b) is not None, timeout=timeout
    )
    if body is None:
        raise RedisBackupError(f"RedisBackup {namespace}/{name} was deleted while it was being created")
    if (refused := acceptance.refusal(body)) is not None:
        delete_backup(namespace, name)
        raise refused
    if not answered:
        print(
            f"the operator has not picked up RedisBackup {namespace}/{name} within {timeout:g}s; it is created and "
            "waits for it (is the operator running and serving this namespace?)",
            file=sys.stderr,
        )
    return body


def finish(namespace: str, name: str, body: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """--wait: until available (or failed: OperationFailed with the document as it is)."""
    progress = terminal_progress(False, "snapshot")
    try:
        done, finished = watch(
            namespace,
            name,
            lambda b: acceptance.phase(b) in ("available", "failed"),
            timeout=timeout,
            progress=progress,
        )
    finally:
        if progress:
            progress.close()
    if done is None:
        raise RedisBackupError(f"RedisBackup {namespace}/{name} was deleted while waiting for it")
    document = snapshot_document_from_body(done, show_node_group_config=False)
    if (failed := acceptance.failure(done)) is not None:
        raise OperationFailed(failed, document)
    if not finished:
        raise OperationFailed(
            RedisBackupError(f"snapshot {name} is still {acceptance.phase(done)} after {timeout:g}s (--wait-timeout)"),
            document,
        )
    return done


def submit(namespace: str, body: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Create `body`, wait for the operator's answer and, with --wait, for the snapshot; its ElastiCache document."""
    name = body["metadata"]["name"]
    current = accept(namespace, name, create(namespace, body), args.accept_timeout)
    if args.wait:
        current = finish(namespace, name, current, args.wait_timeout)
    return snapshot_document_from_body(current, show_node_group_config=False)
