"""The replication-protocol reader: framing, keep-alives, timeouts and error replies, against a scripted server."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redisbackup.domain.source import ConnectionSettings, NodeAddress, RedisCredentials
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.faults import (
    ConnectionLost,
    RedisAuthenticationFailed,
    RedisBusy,
    RedisUnreachable,
    SyncNotPermitted,
    UnexpectedReply,
)
from redisbackup.redis.replication import RdbStream, open_rdb_stream
from tests.unit.datapath.fake_redis import FakeRedis

FAST = Timeouts(connect=2, reply=2, first_byte=2, stall=1)
PATIENT = Timeouts(connect=2, reply=2, first_byte=2, stall=120)


async def read_all(
    server: FakeRedis,
    settings: ConnectionSettings | None = None,
    *,
    timeouts: Timeouts = FAST,
    chunk_size: int = 1 << 20,
    depth: int = 4,
    reading: str = "loop",
) -> tuple[bytes, RdbStream]:
    """The whole RDB, read on the event loop (`async for`) or by the stream's own thread (`pump`)."""
    async with open_rdb_stream(
        NodeAddress(server.host, server.port),
        settings or ConnectionSettings(),
        timeouts,
        chunk_size=chunk_size,
        depth=depth,
    ) as stream:
        received = bytearray()
        if reading == "thread":
            assert stream.threadable
            await stream.pump(received.extend, chunk_size=chunk_size)
        else:
            async for chunk in stream:
                received += chunk
        assert stream.complete
        return bytes(received), stream


READINGS = pytest.mark.parametrize("reading", ["loop", "thread"])


@given(
    payload=st.binary(min_size=0, max_size=3000),
    segments=st.lists(st.integers(min_value=1, max_value=200), max_size=12),
    transfer=st.sampled_from(["diskless", "disk"]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_rdb_comes_out_exactly_however_the_server_cuts_it(
    payload: bytes, segments: list[int], transfer: str
) -> None:
    async def scenario() -> None:
        for reading in ("loop", "thread"):
            async with FakeRedis(rdb=payload, transfer=transfer, segments=segments, keepalives=2) as server:
                received, stream = await read_all(server, chunk_size=64, depth=2, reading=reading)
                assert received == payload, reading
                assert stream.transfer == transfer
                assert stream.size == (len(payload) if transfer == "disk" else None)
                assert stream.bytes_received == len(payload)

    asyncio.run(scenario())


async def test_the_handshake_asks_for_eof_capability_and_rdb_only_then_syncs() -> None:
    async with FakeRedis(rdb=b"x" * 100) as server:
        _, stream = await read_all(server)
    assert [c[0] for c in server.commands] == [b"INFO", b"REPLCONF", b"REPLCONF", b"SYNC"]
    assert server.commands[1:3] == [[b"REPLCONF", b"capa", b"eof"], [b"REPLCONF", b"rdb-only", b"1"]]
    assert stream.rdb_only is True
    assert stream.server.engine_version == "7.0.15"


@READINGS
async def test_the_connection_is_closed_as_soon_as_the_rdb_is_complete(reading: str) -> None:
    async with (
        FakeRedis(rdb=os.urandom(5000), segments=[100, 1000], drops_rdb_only=False) as server,
        open_rdb_stream(NodeAddress(server.host, server.port), ConnectionSettings(), FAST) as stream,
    ):
        if reading == "thread":
            await stream.pump(lambda piece: None)
        else:
            async for _ in stream:
                pass
        # Still inside the block: the replica link must already be gone.
        await asyncio.wait_for(server.client_closed_after_rdb.wait(), 2)


@READINGS
async def test_a_pre_7_server_streaming_commands_after_the_rdb_is_cut_off_at_the_announced_length(reading: str) -> None:
    rdb = os.urandom(3000)
    async with FakeRedis(rdb=rdb, transfer="disk", after_rdb=b"*1\r\n$4\r\nPING\r\n" * 50) as server:
        received, _ = await read_all(server, reading=reading)
    assert received == rdb


@READINGS
async def test_a_server_without_rdb_only_still_works(reading: str) -> None:
    replies = {"REPLCONF RDB-ONLY 1": b"-ERR Unrecognized REPLCONF option: rdb-only\r\n"}
    async with FakeRedis(rdb=b"R" * 500, replies=replies) as server:
        received, stream = await read_all(server, reading=reading)
    assert received == b"R" * 500
    assert stream.rdb_only is False


@pytest.mark.parametrize(
    ("reply", "fault", "words"),
    [
        (b"-LOADING Redis is loading the dataset in memory\r\n", RedisBusy, "cannot serve a snapshot right now"),
        (b"-NOPERM this user has no permissions to run the 'sync' command\r\n", SyncNotPermitted, "may not run SYNC"),
        (b"-ERR unknown command 'SYNC', with args beginning with: \r\n", SyncNotPermitted, "disabled or renamed"),
        (b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n", RedisBusy, "choose another node"),
        (b"HTTP/1.1 400 Bad Request\r\n", UnexpectedReply, "not a proxy"),
    ],
)
async def test_sync_refusals_become_typed_faults_naming_the_node(reply: bytes, fault: type, words: str) -> None:
    async with FakeRedis(sync_prelude=b"\n\n" + reply) as server:
        with pytest.raises(fault, match=words) as caught:
            await read_all(server)
    assert f"127.0.0.1:{server.port}" in str(caught.value)


async def test_a_wrong_password_is_an_authentication_fault() -> None:
    async with FakeRedis(password="right") as server:
        with pytest.raises(RedisAuthenticationFailed, match="rejected the default user's password"):
            await read_all(server, ConnectionSettings(credentials=RedisCredentials(password="wrong")))
    assert [c[0] for c in server.commands] == [b"AUTH"]


async def test_a_missing_password_is_reported_as_such() -> None:
    async with FakeRedis(replies={"INFO": b"-NOAUTH Authentication required.\r\n"}) as server:
        with pytest.raises(RedisAuthenticationFailed, match="requires a password and none was given"):
            await read_all(server)


@READINGS
async def test_a_cut_connection_mid_rdb_is_connection_lost_with_the_byte_count(reading: str) -> None:
    async with FakeRedis(rdb=os.urandom(10_000), transfer="disk", cut_after=4000) as server:
        with pytest.raises(ConnectionLost, match=r"after 4000 of 10000 bytes") as caught:
            await read_all(server, reading=reading)
    assert caught.value.transient is True


@READINGS
async def test_a_stalled_transfer_times_out_as_connection_lost(reading: str) -> None:
    async with FakeRedis(rdb=os.urandom(10_000), pause_after=1000) as server:
        with pytest.raises(ConnectionLost, match=r"stopped sending the RDB for 1s after 960 bytes"):
            await read_all(server, timeouts=Timeouts(connect=2, reply=2, first_byte=5, stall=1), reading=reading)


async def test_keepalives_do_not_extend_the_first_byte_timeout() -> None:
    async with FakeRedis(saving_forever=True) as server:
        with pytest.raises(RedisBusy, match="did not start sending the RDB within 1s"):
            await read_all(server, timeouts=Timeouts(connect=2, reply=2, first_byte=1, stall=0.5))


async def test_silence_before_the_rdb_hits_the_stall_timeout() -> None:
    async with FakeRedis(sync_prelude=b"\n") as server:
        with pytest.raises(ConnectionLost, match=r"did not answer SYNC within 0\.3s"):
            await read_all(server, timeouts=Timeouts(connect=2, reply=2, first_byte=5, stall=0.3))


async def test_nothing_listening_is_unreachable() -> None:
    async with FakeRedis() as server:
        port = server.port
    with pytest.raises(RedisUnreachable, match=f"cannot connect to Redis at 127.0.0.1:{port}"):
        await read_all(FakeRedis(port=port))


async def test_memory_stays_within_the_buffer_pool_while_the_consumer_is_slow() -> None:
    rdb = os.urandom(4 << 20)
    async with (
        FakeRedis(rdb=rdb, transfer="disk") as server,
        open_rdb_stream(
            NodeAddress(server.host, server.port), ConnectionSettings(), FAST, chunk_size=64 << 10, depth=4
        ) as stream,
    ):
        received = bytearray()
        async for chunk in stream:
            received += chunk
            await asyncio.sleep(0.001)  # a slow store
        buffers = stream._connection.buffers
    assert bytes(received) == rdb
    assert buffers.buffers_allocated <= 5


async def test_a_pumping_thread_stops_at_once_when_cancelled_and_nothing_reaches_the_consumer_after() -> None:
    rdb = os.urandom(1 << 20)
    pieces: list[int] = []
    stalled = threading.Event()

    def consume(piece: memoryview | bytes) -> None:
        pieces.append(len(piece))
        if sum(pieces) >= 300_000:  # everything the server sends before it stalls
            stalled.set()

    async with (
        FakeRedis(rdb=rdb, transfer="disk", pause_after=300_000) as server,
        open_rdb_stream(NodeAddress(server.host, server.port), ConnectionSettings(), PATIENT) as stream,
    ):
        pumping = asyncio.create_task(stream.pump(consume))
        assert await asyncio.to_thread(stalled.wait, 5)
        (reader,) = [t for t in threading.enumerate() if t.name == f"rdb {stream.node}"]
        pumping.cancel()
        # Only the shut-down socket can end its recv this soon: the stall timeout is 120 s.
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(pumping, 30)
        reader.join(30)  # it has handed its outcome to the loop already: only its return is left
        assert not reader.is_alive()
        delivered = len(pieces)
        await asyncio.sleep(0.05)
        assert len(pieces) == delivered
        assert not stream.complete


async def test_an_error_of_the_consumer_stops_the_thread_and_is_raised_as_it_is() -> None:
    class Full(Exception):
        pass

    def consume(piece: memoryview | bytes) -> None:
        raise Full("the store is full")

    async with (
        FakeRedis(rdb=os.urandom(100_000), transfer="disk") as server,
        open_rdb_stream(NodeAddress(server.host, server.port), ConnectionSettings(), FAST) as stream,
    ):
        with pytest.raises(Full, match="the store is full"):
            await stream.pump(consume)
        assert not stream.complete
