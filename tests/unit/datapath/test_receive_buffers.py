"""The receive buffer pool under a producer that trickles bytes: nothing lost, reordered or timed out early."""

from __future__ import annotations

import asyncio
import random

from redisbackup.redis.receive_buffers import BufferedStreamReader, ReceiveBuffers


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading


async def feed(buffers: ReceiveBuffers, transport: FakeTransport, data: bytes, rng: random.Random) -> None:
    sent = 0
    while sent < len(data):
        if not transport.reading:
            await asyncio.sleep(0)
            continue
        buffer = buffers.get_buffer(-1)
        size = min(len(buffer), len(data) - sent, rng.choice([1, 7, 100, 4096, 16384, 70000]))
        buffer[:size] = data[sent : sent + size]
        buffers.buffer_updated(size)
        sent += size
        # Delays around the reader's linger time, to land arrivals while it is giving up waiting.
        await asyncio.sleep(rng.choice([0, 0, 0.0005, 0.001, 0.002, 0.003]))
    buffers.eof_received()


async def trickle_through(seed: int, *, nap: float) -> ReceiveBuffers:
    """Feed a random payload in random pieces; read it back with gathering; check every byte; return the buffers."""
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(1, 600_000))
    buffers = ReceiveBuffers(chunk_size=64 << 10, depth=3)
    buffers.nap = nap
    transport = FakeTransport()
    buffers.connection_made(transport)
    reader = BufferedStreamReader(buffers)
    producer = asyncio.create_task(feed(buffers, transport, data, rng))
    received = bytearray()
    while (view := await reader.read_some(1 << 20, 5.0, gather=48 << 10)) is not None:
        received += view
    await producer
    assert bytes(received) == data, f"seed {seed}"
    assert transport.reading or buffers.closed
    return buffers


async def test_trickled_bytes_arrive_whole_and_in_order_however_the_reader_gathers() -> None:
    for seed in range(25):
        buffers = await trickle_through(seed, nap=0.0)
        assert buffers.buffers_allocated <= 4


async def test_napping_between_small_reads_loses_nothing_and_always_resumes() -> None:
    for seed in range(10):
        await trickle_through(seed, nap=0.004)
