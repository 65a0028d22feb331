"""FileStore: nothing is visible before commit, nothing is left after abort, keys cannot escape the root."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from redisbackup.storage.base import ObjectNotFound, StorageAccessDenied
from redisbackup.storage.file import FileStore


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def test_an_object_appears_only_on_commit_with_every_byte(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = os.urandom(9 << 20)  # more than one staging buffer
    async with store.writer("ns/snap/uid/node-0001.rdb") as writer:
        for start in range(0, len(data), 1 << 16):
            await writer.write(memoryview(data)[start : start + (1 << 16)])
        assert not await store.exists("ns/snap/uid/node-0001.rdb")
        stored = await writer.commit()
    assert (stored.key, stored.size) == ("ns/snap/uid/node-0001.rdb", len(data))
    assert (tmp_path / "ns/snap/uid/node-0001.rdb").read_bytes() == data
    assert files_under(tmp_path) == ["ns/snap/uid/node-0001.rdb"]


async def test_a_reader_thread_writes_straight_into_the_file_after_what_was_staged(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    staged, rest = os.urandom(1000), os.urandom(9 << 20)
    loop = asyncio.get_running_loop()
    async with store.writer("ns/snap/uid/node-0001.rdb") as writer:
        await writer.write(staged)  # the handshake's side: staged, not yet in the file

        def from_a_reader_thread() -> None:
            for start in range(0, len(rest), 256 << 10):
                writer.write_from_thread(memoryview(rest)[start : start + (256 << 10)], loop)

        await asyncio.to_thread(from_a_reader_thread)
        assert writer.bytes_written == len(staged) + len(rest)
        assert not await store.exists("ns/snap/uid/node-0001.rdb")
        await writer.commit()
        with pytest.raises(RuntimeError, match="after commit"):
            writer.write_from_thread(b"late", loop)
    assert (tmp_path / "ns/snap/uid/node-0001.rdb").read_bytes() == staged + rest
    assert files_under(tmp_path) == ["ns/snap/uid/node-0001.rdb"]


async def test_leaving_without_commit_removes_the_temporary_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)

    async def write_then_fail() -> None:
        async with store.writer("ns/snap/uid/node-0001.rdb") as writer:
            await writer.write(os.urandom(5 << 20))
            raise RuntimeError("checksum mismatch upstream")

    with pytest.raises(RuntimeError, match="checksum"):
        await write_then_fail()
    assert files_under(tmp_path) == []


async def test_reading_streams_what_was_written(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = os.urandom(3 << 20)
    await store.put_bytes("a/b.rdb", data)
    chunks = [chunk async for chunk in store.read("a/b.rdb", chunk_size=1 << 20)]
    assert [len(c) for c in chunks] == [1 << 20] * 3
    assert b"".join(chunks) == data
    assert await store.get_bytes("a/b.rdb") == data


async def test_missing_objects_are_object_not_found(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        await FileStore(tmp_path).get_bytes("nope/manifest.json")


async def test_listing_and_deleting_a_prefix_cleans_up_empty_directories(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    for key in ("ns/a/u1/node-0001.rdb", "ns/a/u1/manifest.json", "ns/a/u2/node-0001.rdb", "ns/b/u3/x"):
        await store.put_bytes(key, b"x")
    (tmp_path / "ns/a/u1/.node-0002.rdb.1234abcd.part").write_bytes(b"crashed mid-upload")
    assert [o.key for o in await store.list("ns/a/u1/")] == ["ns/a/u1/manifest.json", "ns/a/u1/node-0001.rdb"]
    assert await store.delete_prefix("ns/a/u1/") == 2
    assert not (tmp_path / "ns/a/u1").exists()
    assert files_under(tmp_path) == ["ns/a/u2/node-0001.rdb", "ns/b/u3/x"]


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a//b", ""])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        FileStore(tmp_path).writer(key)


# Run where root's power over file permissions is gone: in a user namespace of its own (unshare(2), CLONE_NEWUSER),
# which maps no user, a process keeps its uid for permission checks but holds no capability over the files outside,
# so a directory without write permission refuses it as it refuses the operator's unprivileged user (CI runs as root).
UNPRIVILEGED = """
import asyncio, ctypes, json, os, sys
if os.geteuid() == 0 and ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
    sys.exit(f"unshare(CLONE_NEWUSER) failed: {os.strerror(ctypes.get_errno())}")
from redisbackup.storage.file import FileStore
try:
    asyncio.run(FileStore(sys.argv[1]).put_bytes("a/b", b"x"))
except Exception as error:
    print(json.dumps([type(error).__name__, str(error)]))
else:
    print(json.dumps(None))
"""


def test_an_unwritable_directory_is_access_denied(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    root.mkdir(mode=0o500)
    try:
        result = subprocess.run(
            [sys.executable, "-c", UNPRIVILEGED, str(root)], capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        root.chmod(0o700)
    assert result.returncode == 0, result.stderr
    kind, message = json.loads(result.stdout)
    assert kind == StorageAccessDenied.__name__
    assert re.fullmatch(
        rf"StorageAccessDenied: cannot create {re.escape(str(root))}/a/\.b\.[0-9a-f]+\.part: permission denied\. "
        "Make the directory writable by the operator's user",
        message,
    ), message
    assert list(root.iterdir()) == [], "nothing was written"


async def test_of_writers_racing_to_create_one_object_exactly_one_wins_and_its_bytes_stay(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    payloads = [f"manifest of attempt {n}".encode() for n in range(8)]
    created = await asyncio.gather(*(store.put_if_absent("ns/snap/uid/manifest.json", p) for p in payloads))
    assert sorted(created) == [False] * 7 + [True]
    assert (tmp_path / "ns/snap/uid/manifest.json").read_bytes() == payloads[created.index(True)]
    assert await store.put_if_absent("ns/snap/uid/manifest.json", b"later") is False
    assert (tmp_path / "ns/snap/uid/manifest.json").read_bytes() == payloads[created.index(True)]
    assert files_under(tmp_path) == ["ns/snap/uid/manifest.json"], "no temporary file is left"
