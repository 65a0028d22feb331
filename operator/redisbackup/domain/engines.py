"""Which engine and version reads which RDB: the one rule behind choosing a verifier, a loader and a restore target.

A server writes the RDB version of its release and reads every version up to it; it refuses a newer one ("Can't
handle RDB format version N"), and only Valkey reads Valkey's own format (the `VALKEY` signature, Valkey 9.0+).
What each release line writes comes from the engines' rdb.h (RDB_VERSION) and was confirmed, for the five
releases of the version matrix, on the real servers — every snapshot loaded into every server — by
tests/matrix/test_matrix_across_versions.py:

    Redis   2.6: 6   3.2: 7   4.0: 8   5.0 and 6.x: 9   7.0: 10   7.2: 11   7.4 and 8.x: 12
    Valkey  7.2-8.x: 11 (Redis's format, Redis's signature)   9.0: Valkey's format 80 (and Redis's up to 11)

Redis 8.0 loads Valkey 8's RDB 11 (it is Redis 7.2's format); Valkey 8 refuses Redis 8's RDB 12. A release newer
than the table's last line is assumed to read at least what that line reads.

ElastiCache's rule follows: a snapshot restores into the same or a newer engine version, never an older one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import RestoreFault, SnapshotFault
from redisbackup.domain.rdb import Engine, RdbHeader

# (first version of a release line, the RDB it writes), oldest first.
_WRITES: dict[Engine, tuple[tuple[tuple[int, int], RdbHeader], ...]] = {
    "redis": (
        ((2, 6), RdbHeader("redis", 6)),
        ((3, 2), RdbHeader("redis", 7)),
        ((4, 0), RdbHeader("redis", 8)),
        ((5, 0), RdbHeader("redis", 9)),
        ((7, 0), RdbHeader("redis", 10)),
        ((7, 2), RdbHeader("redis", 11)),
        ((7, 4), RdbHeader("redis", 12)),
    ),
    "valkey": (
        ((7, 2), RdbHeader("redis", 11)),
        ((9, 0), RdbHeader("valkey", 80)),
    ),
}
# The newest Redis-format RDB a Valkey line reads (Valkey never took Redis 7.4's RDB 12).
_VALKEY_READS_REDIS = 11
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


class VerifierTooOld(SnapshotFault):
    """No local reader (redis-check-rdb / valkey-check-rdb and its server) understands the RDB: no verdict."""

    code = FaultCode.VERIFIER_TOO_OLD
    transient = False


class VerifierNotFound(SnapshotFault):
    """No local reader at all: verification and restore-cluster need redis-server / valkey-server locally."""

    code = FaultCode.VERIFIER_NOT_FOUND
    transient = False


class RestoreTargetIncompatible(RestoreFault):
    """The target's engine or version cannot read the snapshot's RDB (an older Redis, or Redis given Valkey's)."""

    code = FaultCode.RESTORE_TARGET_INCOMPATIBLE


@dataclass(frozen=True)
class EngineVersion:
    """An engine at a version, as INFO reports it: Valkey by its own version (valkey_version), not redis_version."""

    engine: Engine
    version: str

    def __str__(self) -> str:
        return f"{self.engine} {self.version}"

    @property
    def numbers(self) -> tuple[int, int, int]:
        match = _VERSION.match(self.version)
        if match is None:
            return (0, 0, 0)
        return int(match[1]), int(match[2]), int(match[3] or 0)

    @property
    def line(self) -> tuple[int, int]:
        return self.numbers[:2]

    @property
    def writes(self) -> RdbHeader:
        """The RDB format and version this release writes (and, for DUMP payloads, stamps on each key)."""
        written = _WRITES[self.engine][0][1]
        for first, header in _WRITES[self.engine]:
            if self.line >= first:
                written = header
        return written

    def reads(self, header: RdbHeader) -> bool:
        """Does this release load (and check) an RDB with this header?"""
        if header.engine == "valkey":
            return self.engine == "valkey" and self.writes.engine == "valkey" and header.version <= self.writes.version
        newest = self.writes.version if self.engine == "redis" else _VALKEY_READS_REDIS
        return header.version <= newest

    @property
    def has_absolute_expiry(self) -> bool:
        """PEXPIRETIME (Redis 7.0; every Valkey): a key's expiry as an instant rather than a time to live."""
        return self.engine == "valkey" or self.line >= (7, 0)

    @property
    def has_functions(self) -> bool:
        """FUNCTION (Redis 7.0; every Valkey): libraries live in the RDB and are copied with the keys."""
        return self.has_absolute_expiry

    @property
    def has_slot_ranges(self) -> bool:
        """CLUSTER ADDSLOTSRANGE and CLUSTER SHARDS (Redis 7.0; every Valkey)."""
        return self.has_absolute_expiry

    @property
    def sanitizes_payloads(self) -> bool:
        """`sanitize-dump-payload` and `set-proc-title` (Redis 6.2; every Valkey)."""
        return self.engine == "valkey" or self.line >= (6, 2)


def describe_rdb(header: RdbHeader, written_by: EngineVersion | None) -> str:
    fmt = "" if header.engine == "redis" else "Valkey-format "
    by = f" written by {written_by}" if written_by is not None else ""
    return f"{fmt}RDB version {header.version}{by}"


def _readers_text(readers: Sequence[EngineVersion]) -> str:
    return ", ".join(f"{r} (reads up to RDB {_newest_read(r)})" for r in readers)


def _newest_read(release: EngineVersion) -> str:
    if release.writes.engine == "valkey":
        return f"{_VALKEY_READS_REDIS}, and Valkey-format {release.writes.version}"
    return str(release.writes.version if release.engine == "redis" else _VALKEY_READS_REDIS)


def no_reader(header: RdbHeader, written_by: EngineVersion | None, readers: Sequence[EngineVersion]) -> SnapshotFault:
    """The fault when none of the local `readers` understands `header`: not a verdict on the snapshot."""
    rdb = describe_rdb(header, written_by)
    if not readers:
        return VerifierNotFound(
            f"there is no local redis-server or valkey-server to read the {rdb}: install redis-tools / valkey-tools "
            "(or name them in REDISBACKUP_RDB_TOOLS). The snapshot was not checked; nothing is known to be wrong."
        )
    return VerifierTooOld(
        f"no local reader understands the {rdb}: {_readers_text(readers)}. The snapshot was not checked; nothing "
        f"is known to be wrong with it. Verify with a reader at least as new as {written_by or 'the writer'} "
        "(REDISBACKUP_RDB_TOOLS, or --redis-server and --redis-check-rdb)."
    )


def check_restore_target(
    header: RdbHeader, written_by: EngineVersion | None, target: EngineVersion, where: str
) -> None:
    """Refuse, before anything changes, a target that cannot load the snapshot (ElastiCache: same or newer only)."""
    if target.reads(header):
        return
    rdb = describe_rdb(header, written_by)
    if header.engine == "valkey" and target.engine != "valkey":
        why = "only Valkey reads Valkey's RDB format"
    else:
        why = f"{target} reads RDB versions up to {_newest_read(target)}"
    raise RestoreTargetIncompatible(
        f"{where} runs {target}, which cannot load the snapshot's {rdb} ({why}). A snapshot restores into the "
        f"same engine at the same or a newer version: use {written_by or 'a newer server'} or newer for {where}.",
        field="--engine-version",
    )


def choose_reader(
    readers: Sequence[EngineVersion],
    header: RdbHeader,
    *,
    written_by: EngineVersion | None,
    target: EngineVersion | None = None,
) -> int:
    """The index of the reader to use for an RDB with `header`.

    Without a `target` (verification): the snapshot's own engine and version if present, else the newest reader of
    its engine, else the newest reader. With a `target` (restore-cluster copies keys as DUMP payloads, stamped with
    the reader's RDB version): only readers whose payloads the target reads, preferring the target's own release.
    """
    able = [i for i, reader in enumerate(readers) if reader.reads(header)]
    if not able:
        raise no_reader(header, written_by, readers)
    if target is not None:
        fitting = [i for i in able if target.reads(readers[i].writes)]
        if not fitting:
            local = _readers_text([readers[i] for i in able])
            raise RestoreFault(
                f"the local readers of the snapshot's {describe_rdb(header, written_by)} ({local}) copy keys in RDB "
                f"versions {target} cannot read: give restore-cluster a redis-server of {target}'s version "
                "(REDISBACKUP_RDB_TOOLS or --redis-server)",
                field="--redis-server",
            )
        able = fitting
    wanted = target or written_by

    def preference(i: int) -> tuple[bool, bool, tuple[int, ...]]:
        reader = readers[i]
        exact = wanted is not None and reader == wanted
        same_engine = wanted is not None and reader.engine == wanted.engine
        # Verifying: the newest reader is the most thorough. Copying into a target: the oldest that fits stamps
        # the payloads with the lowest RDB version, which the most targets read.
        age = reader.numbers if target is None else tuple(-n for n in reader.numbers)
        return exact, same_engine, age

    return max(able, key=preference)
