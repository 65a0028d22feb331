"""Verifying an RDB while it streams past: header, CRC-64 trailer, SHA-256 and size, in one pass.

An RDB starts with a 9-byte signature — `REDIS` + 4 digits (Redis, and Valkey before 9.0) or `VALKEY` + 3 digits
(Valkey 9.0+) — and ends with the EOF opcode 0xFF and an 8-byte little-endian CRC-64 of every byte before it
(Redis's variant: CRC-64/Jones, reflected, init 0, no final xor; anycrc calls it CRC64-REDIS). A server with
`rdbchecksum no` writes eight zero bytes instead, which Redis itself accepts as "not checksummed".

The verifier never holds more than the 8 bytes that might turn out to be the trailer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

import anycrc

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import SnapshotFault

Engine = Literal["redis", "valkey"]
ENGINES: tuple[Engine, ...] = ("redis", "valkey")

HEADER_SIZE = 9
TRAILER_SIZE = 8
EOF_OPCODE = 0xFF
# Header, the EOF opcode and the trailer: the smallest RDB there is (an empty data set is larger in practice).
MIN_RDB_SIZE = HEADER_SIZE + 1 + TRAILER_SIZE

# RDB 5 (Redis 2.6) added the CRC-64 trailer; 12 is Redis 7.4-8.x. Valkey 9.0 moved to its own signature at 80.
# Newer formats may move the trailer, so they are refused until this list learns them.
SUPPORTED_VERSIONS: dict[Engine, range] = {"redis": range(5, 13), "valkey": range(80, 81)}

_SIGNATURE = re.compile(rb"(?:REDIS(?P<redis>\d{4})|VALKEY(?P<valkey>\d{3}))")

_CRC64 = anycrc.Model("CRC64-REDIS")


class NotAnRdb(SnapshotFault):
    """The bytes a node sent are not an RDB file (wrong signature, or truncated before the trailer)."""

    code = FaultCode.NOT_AN_RDB


class UnsupportedRdbVersion(SnapshotFault):
    code = FaultCode.UNSUPPORTED_RDB_VERSION


class ChecksumMismatch(SnapshotFault):
    """The CRC-64 of the bytes received differs from the RDB's trailer: damaged in transit or on the server."""

    code = FaultCode.CHECKSUM_MISMATCH
    transient = True  # a second snapshot is a fresh RDB; retrying usually helps


@dataclass(frozen=True)
class RdbHeader:
    engine: Engine  # the signature's: REDIS0nnn (Redis, and Valkey before 9.0) or VALKEYnnn
    version: int

    def __str__(self) -> str:
        return f"version {self.version}" if self.engine == "redis" else f"Valkey-format version {self.version}"


@dataclass(frozen=True)
class RdbDigest:
    """What a verified RDB is: its format, size and fingerprints (recorded in the manifest)."""

    header: RdbHeader
    size: int
    crc64: int  # of every byte before the trailer
    sha256: str  # hex, of the whole file as stored
    checksummed: bool  # False when the server wrote no CRC (rdbchecksum no): then only sha256 guards it

    @property
    def crc64_hex(self) -> str:
        return f"{self.crc64:016x}"


def parse_header(signature: bytes, *, node: str) -> RdbHeader:
    """Parse the 9-byte signature; `node` (host:port) is named in the error."""
    match = _SIGNATURE.fullmatch(signature)
    if match is None:
        raise NotAnRdb(
            f"the snapshot stream from {node} does not start with an RDB signature (REDIS0nnn or VALKEYnnn): "
            f"got {signature!r}. The address may belong to something that speaks the Redis protocol but is not "
            "Redis (a proxy such as twemproxy or Envoy); point the snapshot at a Redis node itself."
        )
    engine: Engine = "redis" if match["redis"] is not None else "valkey"
    version = int(match["redis"] or match["valkey"])
    supported = SUPPORTED_VERSIONS[engine]
    if version not in supported:
        raise UnsupportedRdbVersion(
            f"{node} sent an RDB of {engine} format version {version}; this redisbackup understands versions "
            f"{supported.start}-{supported.stop - 1}. Upgrade redisbackup to snapshot this server, or snapshot a "
            "node running a supported version."
        )
    return RdbHeader(engine=engine, version=version)


class RdbVerifier:
    """Feed it the RDB in chunks of any size; `finish()` checks the trailer and returns the digest.

    Chunks may be memoryviews into buffers the caller reuses: nothing is kept beyond the last 8 bytes.
    """

    def __init__(self, node: str) -> None:
        self.node = node
        self._head = bytearray()
        self._header: RdbHeader | None = None
        self._crc = 0
        self._sha = hashlib.sha256()
        self._size = 0
        self._tail = b""  # the last bytes seen, not yet fed to the CRC: they may be the trailer
        self._last_crc_byte: int | None = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def header(self) -> RdbHeader | None:
        return self._header

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        size = len(chunk)
        if size == 0:
            return
        if self._header is None:
            self._head += chunk[: HEADER_SIZE - len(self._head)]
            if len(self._head) == HEADER_SIZE:
                self._header = parse_header(bytes(self._head), node=self.node)
        self._sha.update(chunk)
        self._size += size
        if size >= TRAILER_SIZE:
            self._feed_crc(self._tail)
            self._feed_crc(chunk[: size - TRAILER_SIZE])
            self._tail = bytes(chunk[size - TRAILER_SIZE :])
        else:
            joined = self._tail + bytes(chunk)
            self._feed_crc(joined[: len(joined) - TRAILER_SIZE])
            self._tail = joined[len(joined) - TRAILER_SIZE :]

    def _feed_crc(self, data: bytes | bytearray | memoryview) -> None:
        if len(data):
            self._crc = _CRC64.calc(data, self._crc)
            self._last_crc_byte = data[-1]

    def finish(self) -> RdbDigest:
        """Check that a whole RDB went by and its trailer matches; raise NotAnRdb or ChecksumMismatch."""
        if self._header is None or self._size < MIN_RDB_SIZE:
            raise NotAnRdb(
                f"the snapshot stream from {self.node} ended after {self._size} bytes, before a complete RDB "
                f"(at least {MIN_RDB_SIZE} bytes). Nothing was stored; take the snapshot again."
            )
        if self._last_crc_byte != EOF_OPCODE:
            raise NotAnRdb(
                f"the RDB from {self.node} ({self._size} bytes) does not end with the EOF opcode 0xFF before its "
                "checksum: it was cut short or damaged. Nothing was stored; take the snapshot again."
            )
        trailer = int.from_bytes(self._tail, "little")
        checksummed = trailer != 0
        if checksummed and trailer != self._crc:
            raise ChecksumMismatch(
                f"the RDB from {self.node} ({self._size} bytes) failed its CRC-64 check: the trailer says "
                f"{trailer:016x}, the bytes received hash to {self._crc:016x}. It was damaged in transit or on "
                "the server; nothing was stored. Take the snapshot again."
            )
        return RdbDigest(
            header=self._header,
            size=self._size,
            crc64=self._crc,
            sha256=self._sha.hexdigest(),
            checksummed=checksummed,
        )
