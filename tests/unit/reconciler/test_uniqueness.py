"""The uniqueness re-check waits for kopf's index to know every backup the apiserver holds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import kopf
import pytest

from redisbackup.api.validation import ExistingBackup
from redisbackup.workflows.uniqueness import BackupIndex, KnownPeers, peers_of

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


async def test_a_request_during_the_first_listing_waits_for_it_and_then_reads_the_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The webhook serves while the operator's first listing still runs (handlers.backups): a request waits until
    the listing is indexed, instead of listing the namespace beside it or deciding on a partial index."""
    from redisbackup.handlers import admission

    listed: list[str] = []

    async def count(namespace: str) -> int:
        return 1

    async def listing(namespace: str) -> list[ExistingBackup]:
        listed.append(namespace)
        return []

    monkeypatch.setattr(admission, "count_backups", count)
    monkeypatch.setattr(admission, "existing_backups", listing)
    monkeypatch.setattr(admission, "INDEX_PATIENCE", 0.01)  # a partial index would send the request to the API
    index = BackupIndex()
    index.expect_listing()
    assert not index.listed()
    new = {"metadata": {"name": "beta"}, "spec": {"snapshotName": "weekly", "cacheClusterId": "c"}}

    async def the_listing_ends() -> None:
        await asyncio.sleep(0.2)
        index.observe(backup_body("alpha", "a", "Weekly"), deleted=False)
        index.mark_listed()

    listing_task = asyncio.create_task(the_listing_ends())
    violations = await admission.violations_of("CREATE", None, new, "team", index)
    await listing_task
    assert [v.code for v in violations] == ["SnapshotAlreadyExistsFault"]
    assert listed == [], "the index, complete once listed, answered"

    late = BackupIndex()
    late.expect_listing()
    monkeypatch.setattr(admission, "LISTING_PATIENCE", 0.05)
    with pytest.raises(kopf.AdmissionError, match="the operator is starting") as refused:
        await admission.violations_of("CREATE", None, new, "team", late)
    assert refused.value.code == 503
    assert listed == [], "never a list of the namespace beside the listing (at 10,000 each one slowed it down)"
    assert await BackupIndex().wait_listed(0.0), "an index no informer fills waits for nothing"


def backup_body(name: str, uid: str, snapshot: str | None, namespace: str = "team") -> dict[str, object]:
    spec = {} if snapshot is None else {"snapshotName": snapshot}
    created = "2026-05-01T12:00:00Z"
    return {"metadata": {"name": name, "uid": uid, "namespace": namespace, "creationTimestamp": created}, "spec": spec}


def test_the_index_files_each_backup_under_its_resolved_name_and_follows_every_event() -> None:
    index = BackupIndex()
    index.observe(backup_body("alpha", "a", "Weekly"), deleted=False)
    index.observe(backup_body("beta", "b", "weekly"), deleted=False)
    index.observe(backup_body("gamma", "c", "daily"), deleted=False)
    index.observe(backup_body("other", "o", "weekly", namespace="elsewhere"), deleted=False)
    assert sorted(b.name for b in index.named("team", "WEEKLY")) == ["alpha", "beta"]
    assert [b.name for b in index.named("elsewhere", "weekly")] == ["other"]
    assert (index.count("team"), index.count("elsewhere"), index.count("none")) == (3, 1, 0)

    index.observe(backup_body("alpha", "a", "Weekly"), deleted=False)  # a repeated event changes nothing
    assert index.count("team") == 3
    index.observe(backup_body("beta", "b", "monthly"), deleted=False)  # a body with another name moves
    assert [b.name for b in index.named("team", "weekly")] == ["alpha"]
    assert [b.name for b in index.named("team", "monthly")] == ["beta"]
    index.observe(backup_body("gamma", "c", None), deleted=False)  # no usable snapshotName: not counted
    assert index.named("team", "daily") == []
    assert index.count("team") == 2

    for name, uid in (("alpha", "a"), ("beta", "b"), ("gamma", "c")):
        index.observe(backup_body(name, uid, None), deleted=True)
    index.observe(backup_body("ghost", "g", "x"), deleted=True)  # never seen: nothing to forget
    assert (index.count("team"), index.named("team", "weekly")) == (0, [])
    assert index._names.keys() == {"elsewhere"}, "an emptied namespace leaves nothing behind"
    assert index._where.keys() == {("elsewhere", "o")}


def test_a_look_up_reads_only_the_backups_of_that_name() -> None:
    index = BackupIndex()
    for number in range(10_000):
        index.observe(backup_body(f"b{number}", f"u{number}", f"hourly-{number}"), deleted=False)
    assert index.count("team") == 10_000
    assert len(index._names["team"]) == 10_000  # one bucket per name: a look-up touches one of them
    assert [b.uid for b in index.named("team", "HOURLY-4242")] == ["u4242"]
    assert index.named("team", "absent") == []
