"""The throwaway redis-server that verification and restore-cluster load RDBs into, with the real redis-server:
its socket fits wherever TMPDIR points, only an RDB it could not read is called a bad RDB, and a streamed RDB
(through a FIFO, as verification does) never becomes a file; redis-check-rdb checks a stream too."""

from __future__ import annotations

import contextlib
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from redisbackup.local.check_rdb import RdbCheckFailed, check_rdb_stream
from redisbackup.local.scratch_server import (
    RDB_NAME,
    SOCKET_PATH_MAX,
    RdbLoadFailed,
    ScratchServerFailed,
    scratch_server,
    streamed_scratch_server,
)

pytestmark = pytest.mark.e2e

# An RDB without keys: header, EOF opcode, and a zero checksum (written with rdbchecksum off, which Redis accepts).
EMPTY_RDB = b"REDIS0009\xff" + bytes(8)


def work_directory(tmp_path: Path, rdb: bytes) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    (directory / RDB_NAME).write_bytes(rdb)
    return directory


async def test_a_temporary_directory_too_deep_for_a_socket_path_still_loads_the_rdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # as a Pod's emptyDir /tmp mounted from a long host path
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    directory = work_directory(tmp_path, EMPTY_RDB)

    async with scratch_server(directory, what="node 0001 of snapshot deep") as server:
        assert len(str(server.socket).encode()) <= SOCKET_PATH_MAX
        connection = await server.connect()
        try:
            assert await connection.command("DBSIZE") == 0
        finally:
            await connection.close()
    assert not server.socket.exists()


async def test_a_redis_server_that_cannot_start_is_no_verdict_on_the_snapshot(tmp_path: Path) -> None:
    directory = work_directory(tmp_path, EMPTY_RDB)

    with pytest.raises(ScratchServerFailed, match="before it read the RDB") as raised:
        async with scratch_server(directory, what="node 0001 of snapshot nightly", redis_server="/bin/false"):
            pass
    assert not isinstance(raised.value, RdbLoadFailed)
    assert raised.value.code == "RestoreFailed"
    assert "says nothing about the snapshot" in raised.value.message


async def test_an_rdb_redis_server_cannot_read_is_a_load_failure(tmp_path: Path) -> None:
    directory = work_directory(tmp_path, b"REDIS0009garbage-that-is-no-rdb")

    with pytest.raises(RdbLoadFailed, match="could not load node 0001 of snapshot nightly") as raised:
        async with scratch_server(directory, what="node 0001 of snapshot nightly"):
            pass
    assert raised.value.code == "RdbLoadFailed"


def real_rdb(tmp_path: Path, keys: int) -> bytes:
    """An RDB written by the real redis-server, with `keys` keys of 1 KiB."""
    directory = tmp_path / "source"
    directory.mkdir()
    socket = directory / "s.sock"
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(socket), "--dir", str(directory), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(socket))
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                break
            time.sleep(0.05)
        client.mset({f"key:{i}": bytes(1024) for i in range(keys)})
        client.save()
    finally:
        process.terminate()
        process.wait()
    return (directory / RDB_NAME).read_bytes()


async def test_a_streamed_rdb_is_loaded_without_ever_being_a_file(tmp_path: Path) -> None:
    """Verification and restore-cluster stream the stored RDB into the server through a FIFO: the directory never
    holds the RDB's bytes (in a Pod, a small emptyDir /tmp would get the operator evicted)."""
    rdb = real_rdb(tmp_path, keys=3000)
    directory = tmp_path / "work"
    directory.mkdir()
    async with streamed_scratch_server(directory, what="node 0001 of snapshot streamed") as load:
        assert stat.S_ISFIFO((directory / RDB_NAME).stat().st_mode)
        for start in range(0, len(rdb), 64 * 1024):
            await load.write(rdb[start : start + 64 * 1024])
            assert sum(p.stat().st_size for p in directory.iterdir() if p.is_file()) < 64 * 1024
        server = await load.finish()
        connection = await server.connect()
        try:
            assert await connection.command("DBSIZE") == 3000
        finally:
            await connection.close()


async def test_a_streamed_rdb_cut_short_is_a_load_failure(tmp_path: Path) -> None:
    rdb = real_rdb(tmp_path, keys=500)
    directory = tmp_path / "work"
    directory.mkdir()
    async with streamed_scratch_server(directory, what="node 0001 of snapshot cut") as load:
        await load.write(rdb[: len(rdb) // 2])
        with pytest.raises(RdbLoadFailed, match="could not load node 0001 of snapshot cut"):
            await load.finish()


async def test_redis_check_rdb_reads_a_stream_and_reports_damage(tmp_path: Path) -> None:
    rdb = real_rdb(tmp_path, keys=200)
    async with check_rdb_stream(what="node 0001 of snapshot whole") as check:
        await check.write(rdb)
        report = await check.finish()
    assert report.keys == 200
    damaged = rdb[:-8] + bytes(8 - 1) + b"\x01"  # the CRC-64 trailer no longer matches
    async with check_rdb_stream(what="node 0001 of snapshot damaged") as check:
        await check.write(damaged)
        with pytest.raises(RdbCheckFailed, match="node 0001 of snapshot damaged"):
            await check.finish()
