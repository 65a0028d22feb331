"""The throwaway redis-server that verification and restore-cluster load RDBs into, with the real redis-server:
its socket fits wherever TMPDIR points, and only an RDB it could not read is called a bad RDB."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from redisbackup.local.scratch_server import (
    RDB_NAME,
    SOCKET_PATH_MAX,
    RdbLoadFailed,
    ScratchServerFailed,
    scratch_server,
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
