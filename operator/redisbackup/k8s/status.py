"""Writing a RedisBackup's status and its Events: the I/O half of `redisbackup.domain.status`.

Several writers change one RedisBackup's status — the snapshot task, the spec-edit observer, the verification task,
the deletion handler, `redisbackup verify` — often at the same time. Each writes with server-side apply under a
field manager of its own (`FieldManager`): the API server keeps, field by field, what each one applied, and merges
`status.conditions` by type (the CRD declares them `listType: map`), so no writer can overwrite a condition or a
field that another one set, whatever its own view of the object is, and no resourceVersion or retry is needed.

Server-side apply also removes a field its writer stops applying. A `StatusWriter` therefore applies everything its
manager has set so far, every time: it starts from what the object records that manager owns (`owned_status`, from
`metadata.managedFields`, as client-go's `Extract…` functions do: an operator restarted mid-snapshot must not drop
what its previous process applied), adds each transition to it, and after each write keeps the status the server
answers, so the next transition is computed against what is really there. A transition that changes nothing costs
no API call. Events go through kopf's poster (from outside kopf's handlers and from the CLI, `k8s.events`), never
blocking the snapshot.

A snapshot's writer is also fenced (`fenced=True`): field managers are per writer, not per process, so the old Pod
of a rolling update, resumed after the new one made the backup `available`, would apply its stale `creating` over
it. Its applies therefore carry the resourceVersion it last saw (the apiserver refuses them with 409 when the object
changed since); on a conflict it reads the object again and, if another writer finished or is deleting the backup,
stops with `StatusSuperseded` instead of writing.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL, SCHEDULE_KIND, SCHEDULE_PLURAL
from redisbackup.api.status import Phase
from redisbackup.domain.conditions import Notice, StatusChange, merge
from redisbackup.k8s import api, events, redisbackups
from redisbackup.k8s.faults import StatusSuperseded, UpdateConflict

log = logging.getLogger(__name__)

APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: the client sends the body as JSON
FENCED_TRIES = 8  # conflicts in a row before a fenced write gives up (each one re-reads the object)
SETTLED = frozenset({Phase.AVAILABLE.value, Phase.FAILED.value, Phase.DELETING.value})


class FieldManager(StrEnum):
    """Who applied what in a RedisBackup's status (metadata.managedFields): one per writer."""

    SNAPSHOT = "redisbackup-snapshot"  # the snapshot task (and, while it runs, the observer: one writer)
    OBSERVER = "redisbackup-observer"  # a spec edit of a finished backup recorded as observed
    VERIFIER = "redisbackup-verifier"  # the spec.verify task
    DELETION = "redisbackup-deletion"  # the deletion handler
    CLI = "redisbackup-cli"  # `redisbackup verify` recording its verdict
    SCHEDULER = "redisbackup-scheduler"  # a RedisBackupSchedule's own status (its runs, retention, conditions)


PostEvent = Callable[[Mapping[str, Any], Notice], None]
ApplyStatus = Callable[..., Awaitable[Mapping[str, Any]]]
"""apply(namespace, name, field_manager, status[, resource_version=…]) → the object as the server has it afterwards;
with a resource_version, UpdateConflict when the object changed since."""
ReadObject = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]


def post_with_kopf(body: Mapping[str, Any], notice: Notice) -> None:
    """Queue a Kubernetes Event about `body` on kopf's poster when called within one of kopf's handlers (it posts
    them in the background); else — the work our informer of RedisBackups starts, outside kopf's handlers, where
    kopf's poster cannot be reached — post it through the API, in the background too and in order."""
    reference: Any = dict(body)  # kopf reads apiVersion, kind and metadata from any mapping
    try:
        kopf.event(reference, type=notice.type, reason=notice.reason, message=notice.message[:1024])
        return
    except LookupError:  # kopf's event queue is known only to the tasks of its handlers
        pass
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _post(reference, notice)
        return
    # One at a time, in the order asked: a backup's Creating and Available, posted on a shared pool, could
    # otherwise reach the apiserver the other way round when the backup takes less than a post.
    api.in_order(_post, reference, notice)


def _post(reference: Mapping[str, Any], notice: Notice) -> None:
    events.post_event(reference, notice, component=events.OPERATOR_COMPONENT, instance=socket.gethostname())


def _apply_status(
    namespace: str,
    name: str,
    manager: str,
    status: Mapping[str, Any],
    kind: str = "RedisBackup",
    plural: str = PLURAL,
    resource_version: str | None = None,
) -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace}
    if resource_version is not None:  # a precondition: 409 Conflict when the object changed since
        metadata["resourceVersion"] = resource_version
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": metadata, "status": dict(status)}
    return api.call(
        f"update the status of {kind} {name} in namespace {namespace}",
        api.custom().patch_namespaced_custom_object_status,
        GROUP,
        VERSION,
        namespace,
        plural,
        name,
        body,
        field_manager=manager,
        force=True,  # the status is ours: take over what an older writer (or a merge patch) left
        _content_type=APPLY_PATCH,
    )


async def apply_status(
    namespace: str, name: str, manager: str, status: Mapping[str, Any], resource_version: str | None = None
) -> Mapping[str, Any]:
    """Server-side apply of `status` to RedisBackup `namespace/name` as `manager`: everything that manager owns."""
    return await api.in_thread(_apply_status, namespace, name, manager, status, resource_version=resource_version)


async def read_backup(namespace: str, name: str) -> Mapping[str, Any] | None:
    return await api.in_thread(redisbackups.get_backup, namespace, name)


async def apply_schedule_status(
    namespace: str, name: str, manager: str, status: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Server-side apply of `status` to RedisBackupSchedule `namespace/name` as `manager`."""
    return await api.in_thread(_apply_status, namespace, name, manager, status, SCHEDULE_KIND, SCHEDULE_PLURAL)


def owned_status(body: Mapping[str, Any], manager: str) -> dict[str, Any]:
    """The part of `body`'s status that `manager` applied (its managedFields entry for the status subresource)."""
    for entry in (body.get("metadata") or {}).get("managedFields") or []:
        if (entry.get("manager"), entry.get("operation"), entry.get("subresource")) == (manager, "Apply", "status"):
            fields = (entry.get("fieldsV1") or {}).get("f:status")
            status = body.get("status")
            if isinstance(fields, Mapping) and isinstance(status, Mapping):
                extracted = _extract(status, fields)
                return extracted if isinstance(extracted, dict) else {}
    return {}


def _extract(value: Any, fields: Mapping[str, Any]) -> Any:
    """What of `value` a fieldsV1 set names: `f:<name>` a field, `k:<json>` a list entry by its keys; a set with no
    members (a scalar, an atomic list or map) takes the whole value."""
    members = {key: sub for key, sub in fields.items() if key != "."}
    if not members:
        return copy.deepcopy(value)
    if isinstance(value, Mapping):
        found: dict[str, Any] = {}
        for key, sub in members.items():
            if key.startswith("f:") and key[2:] in value:
                found[key[2:]] = _extract(value[key[2:]], sub)
        return found
    if isinstance(value, list):
        items = []
        for key, sub in members.items():
            if not key.startswith("k:"):
                continue
            keys = json.loads(key[2:])
            item = next((i for i in value if isinstance(i, Mapping) and keys.items() <= i.items()), None)
            if item is not None:
                items.append(_extract(item, sub))
        return items
    return copy.deepcopy(value)


class StatusWriter:
    """The status of one RedisBackup as one writer (`manager`) changes it, through transitions (`apply`)."""

    def __init__(
        self,
        body: Mapping[str, Any],
        *,
        manager: FieldManager,
        post_event: PostEvent = post_with_kopf,
        apply: ApplyStatus = apply_status,
        fenced: bool = False,
        read: ReadObject = read_backup,
    ) -> None:
        metadata = body.get("metadata") or {}
        self.namespace = str(metadata.get("namespace"))
        self.name = str(metadata.get("name"))
        self.manager = manager
        # What Events refer to: enough for an ObjectReference, nothing the poster could hold on to.
        self.reference = {
            "apiVersion": body.get("apiVersion", f"{GROUP}/{VERSION}"),
            "kind": body.get("kind", "RedisBackup"),
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": metadata.get("uid")},
        }
        self.status: dict[str, Any] = copy.deepcopy(dict(body.get("status") or {}))
        self.applied: dict[str, Any] = owned_status(body, manager)
        """Everything this manager has set: what each write applies (a field left out would be removed)."""
        self._post_event = post_event
        self._apply_status = apply
        self.fenced = fenced
        self._read = read
        self.resource_version: str | None = metadata.get("resourceVersion")
        self._one_at_a_time = asyncio.Lock()  # a later write must never land before an earlier one
        self.writes = 0

    async def apply(self, change: StatusChange) -> bool:
        """Write the change (if it changes anything) and post its Event; True when the status was written.

        Shielded from cancellation: a write once sent lands anyway (the client call runs in a thread), and the
        operator cancels the snapshot's task (workflows.background) as soon as it sees the terminal status that very
        write made, often before the call has returned here. The Event and our copy of the status must still follow
        what the server has.
        """
        return await asyncio.shield(self._apply(change))

    async def _apply(self, change: StatusChange) -> bool:
        async with self._one_at_a_time:
            applied = merge(copy.deepcopy(self.applied), change.patch)
            written = False
            if change.patch and not change.empty:
                answer = await self._write(applied)
                self.status = copy.deepcopy(dict(answer.get("status") or {}))
                self.writes += 1
                written = True
            self.applied = applied  # only once written: a refused write must not ride along with the next one
            if change.empty:
                return False
            if change.notice is not None:
                self.notify(change.notice)
            return written

    async def _write(self, applied: Mapping[str, Any]) -> Mapping[str, Any]:
        if not self.fenced:
            return await self._apply_status(self.namespace, self.name, self.manager, applied)
        for _ in range(FENCED_TRIES):
            try:
                answer = await self._apply_status(
                    self.namespace, self.name, self.manager, applied, resource_version=self.resource_version
                )
            except UpdateConflict:
                fresh = await self._read(self.namespace, self.name)
                if fresh is None:
                    raise
                theirs = dict(fresh.get("status") or {})
                self.resource_version = (fresh.get("metadata") or {}).get("resourceVersion")
                if theirs.get("phase") in SETTLED and theirs.get("phase") != self.status.get("phase"):
                    self.status = copy.deepcopy(theirs)  # what follows (the next pass) sees it settled
                    raise StatusSuperseded(
                        f"RedisBackup {self.namespace}/{self.name} became {theirs.get('phase')} by another writer "
                        "while this attempt ran (another operator process, during a rolling update): this attempt "
                        "ends without writing its status"
                    ) from None
                continue
            self.resource_version = (answer.get("metadata") or {}).get("resourceVersion")
            return answer
        raise UpdateConflict(
            f"could not update the status of RedisBackup {self.namespace}/{self.name}: it kept changing "
            f"({FENCED_TRIES} conflicts in a row)"
        )

    def notify(self, notice: Notice) -> None:
        try:
            self._post_event(self.reference, notice)
        except Exception:  # an Event is a courtesy; it must never fail a snapshot
            log.warning("could not post event %s for %s/%s", notice.reason, self.namespace, self.name, exc_info=True)
