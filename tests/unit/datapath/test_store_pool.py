"""The pool of open stores: a rotated Secret is picked up, the store it replaces is closed once nothing uses it,
and the credential files are read again only when they change — in a thread, never on the event loop."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from redisbackup.api.config import S3Credentials, S3Location, StorageLocation
from redisbackup.storage import pool as pool_module
from redisbackup.storage.base import StorageLocationNotFound
from redisbackup.storage.pool import StorePool
from redisbackup.storage.s3 import S3Store


def write_keys(directory: Path, access: str, secret: str) -> None:
    # As the kubelet updates a mounted Secret: new files, then one rename makes them current.
    staged = directory / f"..{access}"
    staged.mkdir()
    (staged / "AWS_ACCESS_KEY_ID").write_text(access)
    (staged / "AWS_SECRET_ACCESS_KEY").write_text(secret)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        link = directory / f".{name}.new"
        link.symlink_to(staged / name)
        link.replace(directory / name)


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[S3Store]:
    """The S3 stores closed so far, in order."""
    seen: list[S3Store] = []
    real_close = S3Store.close

    async def close(self: S3Store) -> None:
        seen.append(self)
        await real_close(self)

    monkeypatch.setattr(S3Store, "close", close)
    return seen


def s3_pool(directory: Path) -> StorePool:
    location = StorageLocation(
        s3=S3Location(
            bucket="snapshots",
            endpoint="http://127.0.0.1:1",
            region="us-east-1",
            credentials=S3Credentials(directory=str(directory)),
        )
    )
    return StorePool({"archive": location})


async def test_a_store_replaced_by_a_credential_rotation_is_closed_when_its_last_user_is_done(
    tmp_path: Path, closed: list[S3Store]
) -> None:
    write_keys(tmp_path, "AKIA1", "one")
    pool = s3_pool(tmp_path)
    async with pool.lease("archive") as first:
        assert isinstance(first, S3Store)
        assert first.settings.access_key_id == "AKIA1"
        write_keys(tmp_path, "AKIA2", "two")
        async with pool.lease("archive") as second:
            assert isinstance(second, S3Store)
            assert second is not first
            assert second.settings.access_key_id == "AKIA2"
            assert closed == [], "a snapshot still writes through the first store"
        assert closed == []
    assert closed == [first], "the replaced store (its boto3 client and threads) is closed with its last lease"

    # Replaced while nobody uses it: closed at once. The current one stays open for the next user.
    write_keys(tmp_path, "AKIA3", "three")
    async with pool.lease("archive") as third:
        assert closed == [first, second]
    async with pool.lease("archive") as again:
        assert again is third
    assert closed == [first, second]
    await pool.close()
    assert closed == [first, second, third]


async def test_many_rotations_leave_one_open_store(tmp_path: Path, closed: list[S3Store]) -> None:
    write_keys(tmp_path, "AKIA0", "zero")
    pool = s3_pool(tmp_path)
    opened: list[object] = []
    for rotation in range(1, 9):
        async with pool.lease("archive") as store:
            opened.append(store)
        write_keys(tmp_path, f"AKIA{rotation}", str(rotation))
    assert len(set(map(id, opened))) == 8
    assert closed == opened[:-1], "every store but the current one was closed when it was replaced"
    await pool.close()


async def test_the_credential_files_are_read_only_when_they_change_and_never_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[threading.Thread] = []
    real_read = pool_module.read_credentials

    def counting(credentials: S3Credentials) -> tuple[str | None, str | None, str | None]:
        reads.append(threading.current_thread())
        return real_read(credentials)

    monkeypatch.setattr(pool_module, "read_credentials", counting)
    write_keys(tmp_path, "AKIA1", "one")
    pool = s3_pool(tmp_path)
    for _ in range(50):
        async with pool.lease("archive"):
            pass
    assert len(reads) == 1, "unchanged files are not read again"
    write_keys(tmp_path, "AKIA2", "two")
    async with pool.lease("archive") as store:
        assert isinstance(store, S3Store)
        assert store.settings.access_key_id == "AKIA2"
    assert len(reads) == 2
    assert threading.current_thread() not in reads, "the files were read on the event loop's thread"
    await pool.close()


async def test_an_unknown_location_is_named_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(StorageLocationNotFound, match=r'"nearline" is not in .* \(known: archive\)'):
        async with s3_pool(tmp_path).lease("nearline"):
            pass
