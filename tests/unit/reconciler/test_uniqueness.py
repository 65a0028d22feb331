"""The uniqueness re-check waits for kopf's index to know every backup the apiserver holds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from redisbackup.api.validation import ExistingBackup
from redisbackup.workflows.uniqueness import BackupIndex, KnownPeers, peers_of

pytestmark = pytest.mark.asyncio

EARLIER = ExistingBackup(name="alpha", snapshot_name="Weekly", created="2026-05-01T12:00:00Z", uid="a")


@dataclass
class LaggingIndex:
    known: list[ExistingBackup] = field(default_factory=list)

    def same_name(self) -> list[ExistingBackup]:
        return list(self.known)

    def indexed(self) -> int:
        return len(self.known)


async def test_a_backup_created_a_moment_ago_is_waited_for_before_the_check() -> None:
    index = LaggingIndex()

    async def count() -> int:
        return 1  # the apiserver already holds it

    async def watch_delivers_it() -> None:
        await asyncio.sleep(0.1)
        index.known.append(EARLIER)

    delivered = asyncio.create_task(watch_delivers_it())
    assert await peers_of(index, count, where="team/beta") == [EARLIER]
    await delivered


async def test_an_index_that_never_catches_up_is_used_as_it_is_after_the_patience(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def count() -> int:
        return 3

    assert await peers_of(LaggingIndex([EARLIER]), count, where="team/beta", patience=0.1) == [EARLIER]
    assert "the index knows 1 RedisBackups of the namespace after 0s, fewer than the apiserver holds" in caplog.text


async def test_a_fixed_list_needs_no_count() -> None:
    async def count() -> int:
        raise AssertionError("not asked")

    assert await peers_of(KnownPeers([EARLIER]), count, where="team/beta") == [EARLIER]


async def test_the_webhook_reads_the_index_when_it_has_caught_up_and_lists_the_namespace_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redisbackup.handlers import admission

    listed: list[str] = []

    async def count(namespace: str) -> int:
        return 2

    async def listing(namespace: str) -> list[ExistingBackup]:
        listed.append(namespace)
        return [EARLIER]

    monkeypatch.setattr(admission, "count_backups", count)
    monkeypatch.setattr(admission, "existing_backups", listing)
    monkeypatch.setattr(admission, "INDEX_PATIENCE", 0.1)
    new = {"metadata": {"name": "beta"}, "spec": {"snapshotName": "weekly", "cacheClusterId": "c"}}

    index = BackupIndex()
    for name, uid in (("alpha", "a"), ("gamma", "c")):
        index.observe(
            {"metadata": {"name": name, "uid": uid, "namespace": "team", "creationTimestamp": "2026-05-01T12:00:00Z"},
             "spec": {"snapshotName": "Weekly" if name == "alpha" else "daily"}},
            deleted=False,
        )  # fmt: skip
    violations = await admission.violations_of("CREATE", None, new, "team", index)
    assert [v.code for v in violations] == ["SnapshotAlreadyExistsFault"]
    assert listed == []

    index.observe({"metadata": {"name": "gamma", "uid": "c", "namespace": "team"}}, deleted=True)
    violations = await admission.violations_of("CREATE", None, new, "team", index)
    assert [v.code for v in violations] == ["SnapshotAlreadyExistsFault"]
    assert listed == ["team"], "an index behind the apiserver is not trusted"
