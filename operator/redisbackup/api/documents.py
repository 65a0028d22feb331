"""Checking a stream of manifest documents as `kubectl apply` would send them, one after the other.

`redisbackup validate` uses this to give the verdict the webhook would give, without a cluster: a RedisBackup
is checked as a CREATE against the ones accepted before it in the same namespace (so a duplicate snapshotName
within one file is caught), and a second document with the same name is checked as the UPDATE that `apply`
would turn it into. RedisBackupSchedules are checked the same way with their own rules. Documents of other kinds
are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup.api import validation
from redisbackup.api.resource import KIND, SCHEDULE_KIND, is_redisbackup, is_schedule
from redisbackup.api.validation import ExistingBackup
from redisbackup.api.violations import Violation


@dataclass
class DocumentResult:
    index: int
    """1-based position of the document in its stream."""
    name: str
    namespace: str
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kind: str = KIND

    @property
    def valid(self) -> bool:
        return not self.violations


@dataclass
class AppliedState:
    """What the documents checked so far would have put in the cluster, per namespace and name."""

    objects: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    schedules: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def existing(self, namespace: str) -> list[ExistingBackup]:
        found = (ExistingBackup.from_body(body) for (ns, _), body in self.objects.items() if ns == namespace)
        return [backup for backup in found if backup is not None]


def _identity(document: Mapping[str, Any], default_namespace: str) -> tuple[str, str]:
    metadata = document.get("metadata")
    if not isinstance(metadata, Mapping):
        return default_namespace, ""
    return str(metadata.get("namespace") or default_namespace), str(metadata.get("name") or "")


def check_documents(
    documents: Iterable[object], *, namespace: str = "default", state: AppliedState | None = None
) -> list[DocumentResult]:
    """Results for the RedisBackups among `documents`, in order; `state` carries over between files."""
    state = state if state is not None else AppliedState()
    results = []
    for index, document in enumerate(documents, start=1):
        if is_schedule(document):
            assert isinstance(document, Mapping)
            results.append(_check_schedule(index, document, namespace, state))
            continue
        if not is_redisbackup(document):
            continue
        assert isinstance(document, Mapping)
        key = _identity(document, namespace)
        result = DocumentResult(index=index, name=key[1], namespace=key[0])
        previous = state.objects.get(key) if key[1] else None
        if previous is not None:
            result.violations = validation.check_update(previous, document)
        else:
            result.violations = validation.check_create(document, state.existing(key[0]), namespace=key[0])
            result.warnings = validation.warnings(document.get("spec"))
        if result.valid:
            # A generateName object is a new object each time: keep it under a key of its own.
            state.objects[key if key[1] else (key[0], f"#{len(state.objects)}")] = document
        results.append(result)
    return results


def _check_schedule(index: int, document: Mapping[str, Any], namespace: str, state: AppliedState) -> DocumentResult:
    # Imported for the first schedule only: its models, cron and time-zone rules are most of `validate`'s start-up
    # (a `make bench` figure), and a file of RedisBackups has no use for them.
    from redisbackup.api import schedule_validation

    key = _identity(document, namespace)
    result = DocumentResult(index=index, name=key[1], namespace=key[0], kind=SCHEDULE_KIND)
    previous = state.schedules.get(key) if key[1] else None
    if previous is not None:
        result.violations = schedule_validation.check_schedule_update(previous, document)
    else:
        result.violations = schedule_validation.check_schedule_create(document)
        result.warnings = schedule_validation.schedule_warnings(document.get("spec"))
    if result.valid:
        state.schedules[key if key[1] else (key[0], f"#{len(state.schedules)}")] = document
    return result
