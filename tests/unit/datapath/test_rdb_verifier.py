"""The RDB verifier against a real RDB written by redis-server 7.0.15 (an oracle independent of our CRC code)."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redisbackup.domain.rdb import (
    ChecksumMismatch,
    NotAnRdb,
    RdbDigest,
    RdbVerifier,
    UnsupportedRdbVersion,
    parse_header,
)

# `SAVE` of three keys (a string, a hash, a list) by redis-server 7.0.15; its last 8 bytes are the CRC-64 trailer.
REAL_RDB = bytes.fromhex(
    "524544495330303130fa0972656469732d76657206372e302e3135fa0a72656469732d62697473c040fa056374696d65c2b2ef09"
    "6bfa08757365642d6d656dc228170f00fa08616f662d62617365c000fe00fb03001001681111000000040081610201018162020201"
    "ff12016c010210100000000300817802817902817a02ff00086772656574696e670f68656c6c6f2c20736e617073686f74ff01c7"
    "914525167cd0"
)
REAL_TRAILER = int.from_bytes(REAL_RDB[-8:], "little")


def verify(chunks: list[bytes]) -> RdbDigest:
    verifier = RdbVerifier("10.0.0.7:6379")
    for chunk in chunks:
        verifier.update(memoryview(chunk))
    return verifier.finish()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_redis_crc64_matches_the_check_value_from_redis_crc64_c() -> None:
    import anycrc

    assert anycrc.Model("CRC64-REDIS").calc(b"123456789") == 0xE9C6D914C4B8D9CA


def test_a_real_rdb_verifies_with_its_own_trailer() -> None:
    digest = verify([REAL_RDB])
    assert digest.crc64 == REAL_TRAILER
    assert digest.sha256 == hashlib.sha256(REAL_RDB).hexdigest()
    assert digest.size == len(REAL_RDB)
    assert (digest.header.engine, digest.header.version) == ("redis", 10)
    assert digest.checksummed is True


@given(st.lists(st.integers(min_value=0, max_value=len(REAL_RDB)), max_size=40))
def test_any_chunking_gives_the_same_digest(cuts: list[int]) -> None:
    assert verify(split(REAL_RDB, cuts)) == verify([REAL_RDB])


@given(st.integers(min_value=9, max_value=len(REAL_RDB) - 1), st.integers(min_value=1, max_value=255))
def test_a_flipped_byte_after_the_header_never_verifies(position: int, flip: int) -> None:
    damaged = bytearray(REAL_RDB)
    damaged[position] ^= flip
    with pytest.raises((ChecksumMismatch, NotAnRdb)):
        verify([bytes(damaged)])


@given(st.integers(min_value=0, max_value=len(REAL_RDB) - 1))
def test_a_truncated_rdb_never_verifies(length: int) -> None:
    with pytest.raises((ChecksumMismatch, NotAnRdb, UnsupportedRdbVersion)):
        verify([REAL_RDB[:length]])


def test_a_checksum_mismatch_names_the_node_and_both_checksums() -> None:
    damaged = bytearray(REAL_RDB)
    damaged[100] ^= 0x01
    with pytest.raises(ChecksumMismatch) as caught:
        verify([bytes(damaged)])
    message = str(caught.value)
    assert "10.0.0.7:6379" in message
    assert f"{REAL_TRAILER:016x}" in message
    assert caught.value.transient is True


def test_a_zero_trailer_means_the_server_does_not_checksum() -> None:
    unchecked = REAL_RDB[:-8] + bytes(8)
    digest = verify([unchecked])
    assert digest.checksummed is False
    assert digest.crc64 == REAL_TRAILER


@pytest.mark.parametrize(
    ("signature", "engine", "version"),
    [
        (b"REDIS0010", "redis", 10),
        (b"REDIS0012", "redis", 12),
        (b"REDIS0005", "redis", 5),
        (b"VALKEY080", "valkey", 80),
    ],
)
def test_supported_signatures(signature: bytes, engine: str, version: int) -> None:
    header = parse_header(signature, node="n:1")
    assert (header.engine, header.version) == (engine, version)


@pytest.mark.parametrize("signature", [b"REDIS0004", b"REDIS0013", b"REDIS0099", b"VALKEY081", b"VALKEY011"])
def test_unknown_versions_are_refused_with_the_supported_range(signature: bytes) -> None:
    with pytest.raises(UnsupportedRdbVersion, match="understands versions"):
        parse_header(signature, node="n:1")


@pytest.mark.parametrize("signature", [b"HTTP/1.1 ", b"redis0010", b"REDIS 010", b"-ERR unkn", b"REDIS0010\n"[1:]])
def test_other_bytes_are_not_an_rdb(signature: bytes) -> None:
    with pytest.raises(NotAnRdb, match="does not start with an RDB signature"):
        parse_header(signature, node="n:1")


def test_an_rdb_without_the_eof_opcode_before_its_trailer_is_refused() -> None:
    body = REAL_RDB[:-9] + b"\x00"
    import anycrc

    crc = anycrc.Model("CRC64-REDIS").calc(body)
    with pytest.raises(NotAnRdb, match="EOF opcode"):
        verify([body + crc.to_bytes(8, "little")])
