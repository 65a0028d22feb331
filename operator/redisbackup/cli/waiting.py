"""Watching one RedisBackup until something is true of it, with a progress line on a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from redisbackup.cli.progress import ProgressLine
from redisbackup.domain.acceptance import phase
from redisbackup.k8s.redisbackups import get_backup

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
