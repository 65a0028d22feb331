"""Writing a RedisBackup's status and its Events: the I/O half of `redisbackup.domain.status`.

A `StatusWriter` follows one RedisBackup through one reconciliation. It keeps the status as last written, so
each transition is computed against what is really there (kopf's body may lag behind our own patches) and a
transition that changes nothing costs no API call. Patches are JSON merge patches on the status subresource.
Events go through kopf's poster: queued, posted in the background, never blocking the snapshot.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.domain.conditions import Notice, StatusChange
from redisbackup.k8s import api

log = logging.getLogger(__name__)

PostEvent = Callable[[Mapping[str, Any], Notice], None]
PatchStatus = Callable[[str, str, Mapping[str, Any]], Awaitable[object]]


def post_with_kopf(body: Mapping[str, Any], notice: Notice) -> None:
    """Queue a Kubernetes Event about `body` on kopf's poster (inside the operator only)."""
    reference: Any = dict(body)  # kopf reads apiVersion, kind and metadata from any mapping
    kopf.event(reference, type=notice.type, reason=notice.reason, message=notice.message[:1024])


def merge(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch applied in place (None removes a key; lists are replaced)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _patch_status(namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    return api.call(
        f"update the status of RedisBackup {name} in namespace {namespace}",
        api.custom().patch_namespaced_custom_object_status,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {"status": dict(patch)},
        _content_type=api.MERGE_PATCH,
    )


async def patch_status(namespace: str, name: str, patch: Mapping[str, Any]) -> object:
    """Merge-patch the status subresource of RedisBackup `namespace/name`."""
    return await api.in_thread(_patch_status, namespace, name, patch)


class StatusWriter:
    """The status of one RedisBackup, written through transitions (`apply`)."""

    def __init__(
        self,
        body: Mapping[str, Any],
        *,
        post_event: PostEvent = post_with_kopf,
        patch: PatchStatus = patch_status,
    ) -> None:
        metadata = body.get("metadata") or {}
        self.namespace = str(metadata.get("namespace"))
        self.name = str(metadata.get("name"))
        # What Events refer to: enough for an ObjectReference, nothing the poster could hold on to.
        self.reference = {
            "apiVersion": body.get("apiVersion", f"{GROUP}/{VERSION}"),
            "kind": body.get("kind", "RedisBackup"),
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": metadata.get("uid")},
        }
        self.status: dict[str, Any] = copy.deepcopy(dict(body.get("status") or {}))
        self._post_event = post_event
        self._patch = patch
        self.writes = 0

    async def apply(self, change: StatusChange) -> bool:
        """Write the change (if it changes anything) and post its Event; True when the status was patched.

        Shielded from cancellation: a patch once sent lands anyway (the client call runs in a thread), and kopf
        cancels the snapshot daemon as soon as it sees the terminal status that very patch wrote, often before the
        call has returned here. The Event and our copy of the status must still follow what the server has.
        """
        return await asyncio.shield(self._apply(change))

    async def _apply(self, change: StatusChange) -> bool:
        patched = False
        if change.patch:
            await self._patch(self.namespace, self.name, change.patch)
            merge(self.status, change.patch)
            self.writes += 1
            patched = True
        if change.notice is not None:
            self.notify(change.notice)
        return patched

    def notify(self, notice: Notice) -> None:
        try:
            self._post_event(self.reference, notice)
        except Exception:  # an Event is a courtesy; it must never fail a snapshot
            log.warning("could not post event %s for %s/%s", notice.reason, self.namespace, self.name, exc_info=True)
