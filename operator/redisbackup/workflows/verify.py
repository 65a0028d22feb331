"""Verifying a stored snapshot: can every RDB in it be restored, and what does it hold?

Per node, one at a time (each load needs about as much memory as the node's data set), in one pass over the
stored RDB, which never touches the disk (in the operator's Pod, /tmp is a small emptyDir: an RDB written there
got the Pod evicted, and the restarted operator verified again, without end):

1. choose a local reader that understands the RDB's version and engine (local.readers, domain.engines): the
   snapshot's own release if present, else the newest of its engine. When none does, the node's result is
   Unknown (VerifierTooOld, naming both versions): an old checker's "Can't handle RDB format version" is no verdict
   (the stored bytes are still read and checked against the manifest: a damaged object is a verdict);
2. the stored bytes are checked against the manifest while they stream: size, CRC-64 and SHA-256 (the bytes are
   the ones the snapshot stored);
3. the reader's `redis-check-rdb` (`valkey-check-rdb`) reads the same stream on its standard input: the engine's
   own parser reads every object and checks the CRC-64 trailer;
4. a throwaway server of the same reader, with deep payload sanitization, loads the same stream through a FIFO;
   then the keys are counted per database, and for a Redis Cluster shard every key must hash to a slot the shard
   owned (else restore-cluster would fail).

A mismatch with the manifest is reported before anything the checker or the loader says about those bytes.

What passing proves and what it does not is in the README ("Verifying a snapshot"): in short, the stored bytes
are the snapshot's, complete, and loadable by this redis-server version; not that the data is what the
application expects, nor that the shards of a cluster snapshot were taken at the same instant.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.domain.conditions import StatusChange
from redisbackup.domain.engines import VerifierTooOld, choose_reader
from redisbackup.domain.faults import RedisBackupError, SnapshotFault
from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord
from redisbackup.domain.plan import format_slots
from redisbackup.domain.slots import SlotSet, key_slot, parse_slots
from redisbackup.domain.status import mark_verified
from redisbackup.domain.verification import (
    FAILED,
    PASSED,
    UNKNOWN,
    NodeCheck,
    VerificationReport,
    verification_status,
)
from redisbackup.k8s.events import post_event
from redisbackup.k8s.faults import ObjectNotFound
from redisbackup.k8s.redisbackups import SnapshotNotFound
from redisbackup.k8s.status import FieldManager, StatusWriter
from redisbackup.local.check_rdb import check_rdb_stream
from redisbackup.local.readers import RdbReader, find_readers
from redisbackup.local.scratch_server import LocalRedisMissing, streamed_scratch_server
from redisbackup.redis.client import RedisClient
from redisbackup.redis.keyspace import keyspace, scan_keys
from redisbackup.storage.base import ObjectStore
from redisbackup.workflows.restore import read_verified

log = logging.getLogger(__name__)

EXAMPLES = 3


class KeysOutsideSlots(SnapshotFault):
    """A shard's RDB holds keys of slots the shard did not own: restore-cluster would be refused them."""

    code = FaultCode.KEYS_OUTSIDE_SLOTS
    transient = False


async def check_slots(connection: RedisClient, record: NodeSnapshotRecord, what: str) -> None:
    """Every key of a loaded shard RDB hashes to one of the shard's recorded slots."""
    owned = SlotSet(parse_slots(record.slots or ""))
    outside: list[tuple[bytes, int]] = []
    count = 0
    async for batch in scan_keys(connection):
        for key in batch:
            slot = key_slot(key)
            if slot not in owned:
                count += 1
                if len(outside) < EXAMPLES:
                    outside.append((key, slot))
    if count:
        examples = ", ".join(f"{key[:60]!r} (slot {slot})" for key, slot in outside)
        raise KeysOutsideSlots(
            f"{what} holds {count} key(s) outside its slots {format_slots(owned.ranges)}, e.g. {examples}: the "
            "shard was mid-resharding or its slots were recorded wrongly. A cluster restored from it would miss "
            "those keys; take a new snapshot when no slot is migrating."
        )


async def _discard(chunk: bytes) -> None:
    pass


async def _verify_node(
    store: ObjectStore,
    manifest: Manifest,
    record: NodeSnapshotRecord,
    directory: Path,
    readers: list[RdbReader],
) -> NodeCheck:
    kind = "node group" if record.node_group_id else "node"
    what = f'{kind} {record.id} of snapshot "{manifest.snapshot_name}"'
    try:
        reader = readers[choose_reader([r.release for r in readers], record.header, written_by=record.written_by)]
    except VerifierTooOld:
        await read_verified(store, record, _discard)  # our own CRC-64 reads every RDB version: damage is a verdict
        raise
    async with (
        check_rdb_stream(what=what, reader=reader) as check,
        streamed_scratch_server(directory, what=what, reader=reader) as load,
    ):

        async def both(chunk: bytes) -> None:
            await asyncio.gather(check.write(chunk), load.write(chunk))

        await read_verified(store, record, both)
        checked = await check.finish()
        server = await load.finish()
        connection = await server.connect()
        try:
            databases = await keyspace(connection)
            if record.node_group_id is not None:
                if set(databases) - {0}:
                    raise KeysOutsideSlots(f"{what} holds keys in databases other than 0, which a cluster cannot")
                await check_slots(connection, record, what)
        finally:
            await connection.close()
    return NodeCheck(
        id=record.id,
        clustered=record.node_group_id is not None,
        result=PASSED,
        keys=sum(db.keys for db in databases.values()),
        expires=sum(db.expires for db in databases.values()),
        keys_per_database={number: db.keys for number, db in databases.items()},
        written_by=checked.written_by,
        loader=str(reader.release),
    )


async def verify_snapshot(
    store: ObjectStore,
    manifest: Manifest,
    *,
    work_dir: Path | None = None,
    redis_server: str | None = None,
    redis_check_rdb: str | None = None,
) -> VerificationReport:
    """Verify every node of `manifest`; a node that fails is reported with its fault, the others still run.

    Only faults about the snapshot itself end up in the report (Failed), and the absence of a local reader that
    understands its RDB (Unknown); an unreachable store or a named program that is no Redis server is raised (the
    verification could not be done, which is not the same as a snapshot that failed it).
    """
    readers, not_a_server = await find_readers(server=redis_server, checker=redis_check_rdb)
    if not_a_server is not None:
        raise LocalRedisMissing(
            f"{not_a_server!r} is not a Redis or Valkey server (`--version` does not say so): name a redis-server or "
            "valkey-server (--redis-server, REDISBACKUP_REDIS_SERVER) or leave it to the search of "
            "REDISBACKUP_RDB_TOOLS / PATH"
        )
    nodes = []
    for record in manifest.node_snapshots:
        with tempfile.TemporaryDirectory(prefix="redisbackup-verify-", dir=work_dir) as directory:
            try:
                verified = await _verify_node(store, manifest, record, Path(directory), readers)
            except RedisBackupError as fault:
                if fault.code not in VERDICTS and fault.code not in NO_VERDICT:
                    raise
                result = FAILED if fault.code in VERDICTS else UNKNOWN
                log.info("verification of %s node %s: %s: %s", manifest.snapshot_name, record.id, result, fault)
                clustered = record.node_group_id is not None
                verified = NodeCheck(id=record.id, clustered=clustered, result=result, fault=fault)
        nodes.append(verified)
    loader = ", ".join(sorted({node.loader for node in nodes if node.loader})) or "no RDB loaded"
    return VerificationReport(manifest.snapshot_name, dt.datetime.now(dt.UTC), loader, tuple(nodes))


# Faults that are a verdict on the stored snapshot (as opposed to the verification not being possible).
VERDICTS = frozenset(
    {
        FaultCode.STORED_OBJECT_CORRUPT,
        FaultCode.SNAPSHOT_NOT_FOUND,
        FaultCode.RDB_CHECK_FAILED,
        FaultCode.RDB_LOAD_FAILED,
        FaultCode.KEYS_OUTSIDE_SLOTS,
    }
)
# Faults that say no local reader could judge the RDB: the result is Unknown, never Failed (and never Stalled).
NO_VERDICT = frozenset({FaultCode.VERIFIER_TOO_OLD, FaultCode.VERIFIER_NOT_FOUND})


def verified(status: Mapping[str, Any] | None, report: VerificationReport, *, generation: int | None) -> StatusChange:
    """The status transition that records `report` (mark_verified), for the operator and the CLI alike."""
    fault = report.fault
    return mark_verified(
        status,
        verification_status(report),
        result=report.result,
        reason=str(fault.code) if fault else None,
        message=report.summary,
        generation=generation,
        now=dt.datetime.now(dt.UTC),
    )


async def record_verification(body: Mapping[str, Any], report: VerificationReport) -> dict[str, Any]:
    """Write `report` into the RedisBackup's status (status.verification, the Verified condition) and post an
    Event, under the CLI's own field manager (what the operator writes meanwhile stays). Returns the object with
    the status the server answered."""
    metadata = body.get("metadata") or {}
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    writer = StatusWriter(body, manager=FieldManager.CLI, post_event=post_event)
    try:
        await writer.apply(verified(writer.status, report, generation=metadata.get("generation")))
    except ObjectNotFound:
        raise SnapshotNotFound(f"RedisBackup {namespace}/{name} was deleted during its verification") from None
    return {**body, "status": writer.status}
