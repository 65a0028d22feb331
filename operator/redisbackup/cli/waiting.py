"""Creating a snapshot through the core and following it, as create-snapshot and copy-snapshot do: the core's
answer (accepted, or refused: then it raised the fault, as ElastiCache's API answers), and with --wait the end of
the snapshot, with a progress line on a terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redisbackup.cli.aws import OperationFailed
from redisbackup.cli.progress import ProgressLine, terminal_progress
from redisbackup.domain import acceptance
from redisbackup.domain.acceptance import phase
from redisbackup.domain.faults import RedisBackupError
from redisbackup.elasticache import snapshots
from redisbackup.elasticache.caller import Caller
from redisbackup.elasticache.snapshots import NewSnapshot


def show(progress: ProgressLine | None, body: Mapping[str, Any]) -> None:
    if progress is None:
        return
    done = ((body.get("status") or {}).get("progress") or {}).get("bytesDone")
    total = ((body.get("status") or {}).get("progress") or {}).get("bytesTotal")
    if done:
        progress(int(done), int(total) if total else None)
    else:
        progress.message(f"snapshot {phase(body)}")


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


def finish(caller: Caller, name: str, timeout: float | None) -> dict[str, Any]:
    """--wait: until available (or failed: OperationFailed with the document as it is)."""
    progress = terminal_progress(False, "snapshot")

    def ended(body: dict[str, Any]) -> bool:
        show(progress, body)
        return acceptance.phase(body) in ("available", "failed")

    try:
        done, finished = asyncio.run(snapshots.watch(caller, name, ended, within=timeout))
    finally:
        if progress:
            progress.close()
    if done is None:
        raise RedisBackupError(f"RedisBackup {caller.namespace}/{name} was deleted while waiting for it")
    document = {"Snapshot": snapshots.snapshot(caller, done)}
    if (failed := acceptance.failure(done)) is not None:
        raise OperationFailed(failed, document)
    if not finished:
        raise OperationFailed(
            RedisBackupError(f"snapshot {name} is still {acceptance.phase(done)} after {timeout:g}s (--wait-timeout)"),
            document,
        )
    return done


async def _answer(pending: Awaitable[snapshots.Answer]) -> snapshots.Answer:
    return await pending


def submit(
    caller: Caller,
    request: NewSnapshot,
    args: argparse.Namespace,
    operation: Callable[..., Awaitable[snapshots.Answer]] = snapshots.create_snapshot,
) -> dict[str, Any]:
    """The core's create (or copy) and, with --wait, the end of the snapshot; its ElastiCache document."""
    answer = asyncio.run(_answer(operation(caller, request, accept_timeout=args.accept_timeout)))
    name = answer.body["metadata"]["name"]
    if not answer.answered and args.accept_timeout > 0:
        print(
            f"the operator has not picked up RedisBackup {caller.namespace}/{name} within {args.accept_timeout:g}s; "
            "it is created and waits for it (is the operator running and serving this namespace?)",
            file=sys.stderr,
        )
    if not args.wait:
        return answer.document
    return {"Snapshot": snapshots.snapshot(caller, finish(caller, name, args.wait_timeout))}
