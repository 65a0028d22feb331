"""The one rule of which engine and version reads which RDB (domain.engines), and what it decides: the verifier,
the restore-cluster loader, and the refusal of a restore target. The real servers confirm the rule in
tests/matrix/test_matrix_across_versions.py; here are its edges, including the releases the matrix lacks."""

from __future__ import annotations

import datetime as dt

import pytest

from redisbackup.domain import status as transitions
from redisbackup.domain.engines import (
    EngineVersion,
    RestoreTargetIncompatible,
    VerifierNotFound,
    VerifierTooOld,
    check_restore_target,
    choose_reader,
)
from redisbackup.domain.faults import RestoreFault
from redisbackup.domain.rdb import RdbHeader
from redisbackup.domain.verification import NodeCheck, VerificationReport, verification_status

REDIS_6 = EngineVersion("redis", "6.0.16")
REDIS_7 = EngineVersion("redis", "7.0.15")
REDIS_72 = EngineVersion("redis", "7.2.4")
REDIS_8 = EngineVersion("redis", "8.0.2")
VALKEY_8 = EngineVersion("valkey", "8.0.1")
VALKEY_81 = EngineVersion("valkey", "8.1.1")
VALKEY_9 = EngineVersion("valkey", "9.0.0")
NOW = dt.datetime(2026, 5, 15, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("release", "rdb"),
    [
        (REDIS_6, 9),
        (REDIS_7, 10),
        (REDIS_72, 11),
        (EngineVersion("redis", "7.4.2"), 12),
        (REDIS_8, 12),
        (EngineVersion("redis", "8.2.1"), 12),  # newer than the table: at least what its last line writes
        (VALKEY_8, 11),
        (VALKEY_81, 11),
        (EngineVersion("valkey", "7.2.5"), 11),
    ],
)
def test_each_release_writes_its_rdb_version_and_reads_every_older_one(release: EngineVersion, rdb: int) -> None:
    assert release.writes == RdbHeader("redis", rdb)
    assert all(release.reads(RdbHeader("redis", version)) for version in range(5, rdb + 1))
    assert not release.reads(RdbHeader("redis", rdb + 1))


def test_valkey_9_writes_its_own_format_which_only_valkey_reads() -> None:
    own = RdbHeader("valkey", 80)
    assert VALKEY_9.writes == own
    assert VALKEY_9.reads(own)
    assert VALKEY_9.reads(RdbHeader("redis", 11))
    assert not VALKEY_9.reads(RdbHeader("redis", 12))  # Redis 7.4+'s RDB 12 is not Valkey's
    assert not REDIS_8.reads(own)
    assert not VALKEY_81.reads(own)


def test_redis_8_reads_valkey_8_and_valkey_8_refuses_redis_8() -> None:
    assert REDIS_8.reads(VALKEY_81.writes)
    assert not VALKEY_81.reads(REDIS_8.writes)


def test_a_target_that_cannot_read_the_snapshot_is_refused_naming_both_versions() -> None:
    with pytest.raises(RestoreTargetIncompatible) as raised:
        check_restore_target(REDIS_8.writes, REDIS_8, REDIS_7, "127.0.0.5:7000")
    message = raised.value.message
    assert raised.value.code == "RestoreTargetIncompatible"
    assert "127.0.0.5:7000 runs redis 7.0.15" in message
    assert "RDB version 12 written by redis 8.0.2" in message
    with pytest.raises(RestoreTargetIncompatible, match="only Valkey reads Valkey's RDB format"):
        check_restore_target(VALKEY_9.writes, VALKEY_9, REDIS_8, "the server")
    check_restore_target(REDIS_6.writes, REDIS_6, VALKEY_81, "newer")  # a newer target loads an older snapshot


def test_verification_prefers_the_snapshots_own_release_then_its_engines_newest() -> None:
    local = [REDIS_7, REDIS_8, VALKEY_8, VALKEY_81, REDIS_6]
    assert local[choose_reader(local, VALKEY_8.writes, written_by=VALKEY_8)] == VALKEY_8
    assert local[choose_reader(local, REDIS_6.writes, written_by=EngineVersion("redis", "6.2.14"))] == REDIS_8
    image = [REDIS_8, VALKEY_81]  # what the operator image ships
    assert image[choose_reader(image, REDIS_6.writes, written_by=REDIS_6)] == REDIS_8
    assert image[choose_reader(image, VALKEY_8.writes, written_by=VALKEY_8)] == VALKEY_81


def test_no_reader_for_the_rdb_is_verifier_too_old_naming_both_versions() -> None:
    with pytest.raises(VerifierTooOld) as raised:
        choose_reader([REDIS_7], REDIS_8.writes, written_by=REDIS_8)
    message = raised.value.message
    assert "RDB version 12 written by redis 8.0.2" in message
    assert "redis 7.0.15 (reads up to RDB 10)" in message
    assert "damaged" not in message
    with pytest.raises(VerifierNotFound):
        choose_reader([], REDIS_7.writes, written_by=REDIS_7)


def test_restore_cluster_copies_with_a_reader_whose_payloads_the_target_reads() -> None:
    local = [REDIS_8, VALKEY_81, REDIS_7, REDIS_6]
    assert local[choose_reader(local, REDIS_6.writes, written_by=REDIS_6, target=REDIS_7)] == REDIS_7
    assert local[choose_reader(local, REDIS_6.writes, written_by=REDIS_6, target=VALKEY_8)] == VALKEY_81
    with pytest.raises(RestoreFault, match=r"redis 6\.0\.16's version"):
        choose_reader([REDIS_8, VALKEY_81], REDIS_6.writes, written_by=REDIS_6, target=REDIS_6)


def test_an_unknown_verification_is_verified_unknown_and_never_stalled() -> None:
    report = VerificationReport(
        "nightly",
        NOW,
        "no RDB loaded",
        (NodeCheck("0001", False, "Unknown", fault=VerifierTooOld("no local reader understands RDB version 12")),),
    )
    assert report.result == "Unknown"
    status = verification_status(report)
    assert (status["result"], status["reason"]) == ("Unknown", "VerifierTooOld")
    assert status["nodes"][0]["result"] == "Unknown"
    change = transitions.mark_verified(
        {"phase": "available"},
        status,
        result=report.result,
        reason="VerifierTooOld",
        message=report.summary,
        generation=1,
        now=NOW,
    )
    conditions = {c["type"]: (c["status"], c["reason"]) for c in change.patch["conditions"]}
    assert conditions == {"Verified": ("Unknown", "VerifierTooOld")}
    assert change.notice is not None
    assert change.notice.type == "Warning"
    assert "could not verify 1 node" in report.summary
