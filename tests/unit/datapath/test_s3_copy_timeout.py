"""A server-side copy waits for an S3 server that answers only once the copy is done (SeaweedFS, MinIO).

AWS sends whitespace while it copies; S3 look-alikes send nothing until the end, and a 5 GiB CopyObject on a busy
SeaweedFS takes over a minute. With the store's read timeout, botocore would give up and start the whole copy
again (and again). A real HTTP server here plays the slow S3: it answers a copy after longer than the store's read
timeout, and counts the calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from redisbackup.storage.s3 import S3Settings, S3Store

COPY_SECONDS = 1.5
READ_TIMEOUT = 0.5
COPIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult><ETag>"etag"</ETag>'
    b"<LastModified>2026-12-07T12:00:00.000Z</LastModified></CopyObjectResult>"
)


class SlowCopies(BaseHTTPRequestHandler):
    copies: list[str] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("x-amz-copy-source"):
            type(self).copies.append(self.path)
            time.sleep(COPY_SECONDS)
        self.send_response(200)
        self.send_header("Content-Length", str(len(COPIED)))
        self.end_headers()
        self.wfile.write(COPIED)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_s3() -> Iterator[str]:
    SlowCopies.copies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowCopies)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def store(endpoint: str, prefix: str) -> S3Store:
    return S3Store(
        S3Settings(
            bucket="bucket",
            prefix=prefix,
            endpoint_url=endpoint,
            region="us-east-1",
            access_key_id="key",
            secret_access_key="secret",
            read_timeout=READ_TIMEOUT,
            max_attempts=3,
        )
    )


async def test_a_copy_slower_than_the_read_timeout_is_made_once_and_succeeds(slow_s3: str) -> None:
    source, target = store(slow_s3, "team"), store(slow_s3, "archive")
    try:
        started = time.monotonic()
        stored = await target.copy_from(source, "a/node.rdb", "a/node.rdb", 1 << 30)
        took = time.monotonic() - started
    finally:
        await source.close()
        await target.close()
    assert stored.size == 1 << 30
    assert SlowCopies.copies == ["/bucket/archive/a/node.rdb"], "one CopyObject, never retried after a read timeout"
    assert took >= COPY_SECONDS > READ_TIMEOUT


async def test_other_calls_keep_the_store_read_timeout(slow_s3: str) -> None:
    target = store(slow_s3, "archive")
    try:
        assert target.client.meta.config.read_timeout == READ_TIMEOUT
        assert target.copy_client.meta.config.read_timeout >= 900
    finally:
        await target.close()
