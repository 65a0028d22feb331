"""Restoring a Redis Cluster snapshot into N fresh cluster-mode nodes over the network (DESIGN.md §7).

    check every node (cluster mode, alone, empty)  ─►  distinct config epochs  ─►  ADDSLOTSRANGE: exactly the slots
    each node group owned  ─►  MEET  ─►  cluster_state:ok  ─►  per node group: fetch its RDB (verified against
    the manifest) ─► throwaway redis-server loads it ─► DUMP/RESTORE ABSTTL every key into its primary
    ─►  replicas: CLUSTER REPLICATE, wait until in sync  ─►  cluster_state:ok, slots as recorded

No access to the nodes' file systems is needed. Before anything changes, every node must read its node group's RDB
(the same engine at the same or a newer version: RestoreTargetIncompatible otherwise), and a local reader is chosen
per node group that reads the RDB and whose DUMP payloads the primary reads (the primary's own release if present;
local.readers, domain.engines). Redis before 7.0 is built with ADDSLOTS and without functions. Keys are written only
after the cluster is whole, because a node refuses writes while cluster_state is fail; clients that connect during
the restore see the data arrive. With `preloaded` (the init-container route, each primary having loaded its node
group's RDB at boot) the data step is skipped and only the slots the primaries did not claim for their keys are
added.

Running it again after it succeeded changes nothing (the nodes are recognised as the restored cluster), so a Job
may retry it. A restore that fails half-way leaves the nodes half-built: empty them (FLUSHALL, CLUSTER RESET HARD)
and run it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redisbackup.domain.cluster_restore import (
    ClusterRestorePlan,
    PrimaryAssignment,
    TargetFacts,
    already_restored,
    check_target,
    check_versions,
    missing_slots,
    plan_cluster_restore,
)
from redisbackup.domain.engines import choose_reader
from redisbackup.domain.faults import RestoreFault
from redisbackup.domain.manifest import Manifest
from redisbackup.domain.plan import format_slots
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.local.readers import RdbReader, find_readers
from redisbackup.local.scratch_server import LocalRedisMissing, streamed_scratch_server
from redisbackup.redis import cluster_admin
from redisbackup.redis.client import RedisClient
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.copy import CopyResult, copy_functions, copy_keys
from redisbackup.storage.base import ObjectStore
from redisbackup.workflows.restore import read_verified

log = logging.getLogger(__name__)

Report = Callable[[str], None]
TARGET_TIMEOUTS = Timeouts(connect=10.0, reply=300.0)


@dataclass
class NodeGroupRestore:
    node_group_id: str
    slots: str
    primary: NodeAddress
    replicas: list[NodeAddress] = field(default_factory=list)
    keys: int = 0  # restored into the primary (preloaded: what it holds)
    expired: int = 0  # skipped: their expiry passed before they were restored
    functions: int = 0  # function libraries restored


@dataclass
class ClusterRestore:
    snapshot_name: str
    node_groups: list[NodeGroupRestore]
    cluster_state: str = "unknown"
    already_restored: bool = False  # the nodes were already this cluster: nothing was changed


async def _wait(what: str, check: Callable[[], Awaitable[bool]], deadline: float) -> None:
    while not await check():
        if time.monotonic() > deadline:
            raise RestoreFault(f"the new cluster did not reach {what} in time; check the nodes' logs")
        await asyncio.sleep(0.2)


class _Builder:
    def __init__(self, plan: ClusterRestorePlan, connections: dict[NodeAddress, RedisClient], report: Report):
        self.plan = plan
        self.connections = connections
        self.report = report
        self.facts: dict[NodeAddress, TargetFacts] = {}

    def on(self, address: NodeAddress) -> RedisClient:
        return self.connections[address]

    async def check(self, preloaded: bool) -> bool:
        """Refuse unfit nodes; True when they already are the restored cluster (nothing left to do)."""
        addresses = self.plan.addresses
        found = await asyncio.gather(*(cluster_admin.inspect_target(self.on(a)) for a in addresses))
        self.facts = dict(zip(addresses, found, strict=True))
        if already_restored(self.plan, self.facts):
            self.report("the nodes already form the restored cluster: nothing to change")
            return True
        by_address = {p.address: p for p in self.plan.primaries}
        for address in addresses:
            check_target(self.facts[address], by_address.get(address), preloaded=preloaded)
        check_versions(self.plan, self.facts)
        return False

    async def assign_slots(self) -> None:
        for epoch, address in enumerate(self.plan.addresses, start=1):
            await cluster_admin.set_config_epoch(self.on(address), epoch)
        for primary in self.plan.primaries:
            ranges = missing_slots(primary, self.facts[primary.address].owned_slots)
            by_range = self.facts[primary.address].release.has_slot_ranges
            await cluster_admin.add_slots(self.on(primary.address), ranges, by_range=by_range)
            self.report(f"node group {primary.node_group_id}: {primary.address} owns slots {primary.record.slots}")

    async def join(self, deadline: float) -> None:
        first = self.plan.addresses[0]
        ip = await cluster_admin.resolve_ip(first)
        for address in self.plan.addresses[1:]:
            await cluster_admin.meet(self.on(address), ip, first.port, self.facts[first].bus_port)
        total = len(self.plan.addresses)

        async def whole() -> bool:
            infos = await asyncio.gather(*(cluster_admin.cluster_info(self.on(a)) for a in self.plan.addresses))
            return all(
                info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", "0")) == total
                for info in infos
            )

        self.report(f"joining {total} nodes (CLUSTER MEET), waiting for cluster_state:ok")
        await _wait("cluster_state:ok with every node known", whole, deadline)

    async def attach_replicas(self, deadline: float) -> None:
        for replica in self.plan.replicas:
            primary_id = self.facts[replica.primary].node_id
            await cluster_admin.replicate(self.on(replica.address), primary_id)
            self.report(f"node group {replica.node_group_id}: {replica.address} replicates {replica.primary}")

        async def in_sync() -> bool:
            for replica in self.plan.replicas:
                mine = await cluster_admin.replication(self.on(replica.address))
                theirs = await cluster_admin.replication(self.on(replica.primary))
                if mine.get("master_link_status") != "up" or mine.get("master_sync_in_progress") != "0":
                    return False
                if mine.get("slave_repl_offset") != theirs.get("master_repl_offset"):
                    return False
            return True

        if self.plan.replicas:
            await _wait("replicas in sync with their primaries", in_sync, deadline)

    async def settled(self, deadline: float) -> str:
        async def ok() -> bool:
            infos = await asyncio.gather(*(cluster_admin.cluster_info(self.on(a)) for a in self.plan.addresses))
            return all(info.get("cluster_state") == "ok" for info in infos)

        await _wait("cluster_state:ok", ok, deadline)
        for primary in self.plan.primaries:
            owned = (await cluster_admin.myself(self.on(primary.address))).slots
            if owned != primary.slots:
                raise RestoreFault(
                    f"{primary.address} owns slots {format_slots(owned)} after the restore, not node group "
                    f"{primary.node_group_id}'s {primary.record.slots}: another process changed the cluster"
                )
        return "ok"


async def _all_or_none(jobs: list[Coroutine[Any, Any, None]]) -> None:
    """Run `jobs` concurrently; on the first failure cancel the others and raise that failure."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def choose_loaders(
    plan: ClusterRestorePlan, facts: dict[NodeAddress, TargetFacts], redis_server: str | None
) -> dict[str, RdbReader]:
    """Per node group, the local reader that loads its RDB and copies payloads its primary reads (or refuse)."""
    readers, not_a_server = await find_readers(server=redis_server)
    if not_a_server is not None:
        raise LocalRedisMissing(f"{not_a_server!r} is not a Redis or Valkey server: name one with --redis-server")
    releases = [reader.release for reader in readers]
    return {
        primary.node_group_id: readers[
            choose_reader(
                releases,
                primary.record.header,
                written_by=primary.record.written_by,
                target=facts[primary.address].release,
            )
        ]
        for primary in plan.primaries
    }


async def _load_node_group(
    store: ObjectStore,
    manifest: Manifest,
    primary: PrimaryAssignment,
    target: RedisClient,
    work_dir: Path | None,
    reader: RdbReader,
    report: Report,
) -> tuple[CopyResult, int]:
    what = f'node group {primary.node_group_id} of snapshot "{manifest.snapshot_name}"'
    # The RDB streams into the throwaway server (never onto the disk: a Job's /tmp is often a small emptyDir).
    with tempfile.TemporaryDirectory(prefix="redisbackup-restore-", dir=work_dir) as directory:
        async with streamed_scratch_server(Path(directory), what=what, reader=reader) as load:
            await read_verified(store, primary.record, load.write)
            server = await load.finish()
            source = await server.connect()
            try:
                functions = await copy_functions(source, target) if reader.release.has_functions else 0

                def progress(done: CopyResult) -> None:
                    report(f"node group {primary.node_group_id}: {done.keys} keys restored into {primary.address}")

                copied = await copy_keys(
                    source, target, progress=progress, absolute_expiry=reader.release.has_absolute_expiry
                )
            finally:
                await source.close()
    return copied, functions


async def restore_cluster(
    store: ObjectStore,
    manifest: Manifest,
    nodes: Sequence[NodeAddress],
    settings: ConnectionSettings,
    *,
    replicas: int = 0,
    preloaded: bool = False,
    parallel: int = 1,
    work_dir: Path | None = None,
    redis_server: str | None = None,
    wait_seconds: float = 300.0,
    report: Report | None = None,
) -> ClusterRestore:
    """Build a cluster of `nodes` holding the snapshot; RestoreFault (or a ValidationFault) says what is wrong."""
    say: Report = report or (lambda text: log.info("%s", text))
    plan = plan_cluster_restore(manifest, nodes, replicas)
    opened = await asyncio.gather(
        *(cluster_admin.open_node(a, settings, TARGET_TIMEOUTS) for a in plan.addresses), return_exceptions=True
    )
    connections = {a: c for a, c in zip(plan.addresses, opened, strict=True) if isinstance(c, RedisClient)}
    try:
        for failure in opened:
            if isinstance(failure, BaseException):
                raise failure
        builder = _Builder(plan, connections, say)
        done = await builder.check(preloaded)
        # Chosen (or refused) before the first change: a missing reader must not leave half a cluster.
        loaders = {} if done or preloaded else await choose_loaders(plan, builder.facts, redis_server)
        result = ClusterRestore(
            manifest.snapshot_name,
            [
                NodeGroupRestore(
                    p.node_group_id,
                    p.record.slots or "",
                    p.address,
                    [r.address for r in plan.replicas if r.node_group_id == p.node_group_id],
                )
                for p in plan.primaries
            ],
        )
        groups = {group.node_group_id: group for group in result.node_groups}
        if done:
            for primary in plan.primaries:
                groups[primary.node_group_id].keys = builder.facts[primary.address].keys
            result.already_restored = True
            result.cluster_state = await builder.settled(time.monotonic() + wait_seconds)
            return result
        await builder.assign_slots()
        await builder.join(time.monotonic() + wait_seconds)
        if preloaded:
            for primary in plan.primaries:
                groups[primary.node_group_id].keys = builder.facts[primary.address].keys
        else:
            gate = asyncio.Semaphore(max(parallel, 1))

            async def load(primary: PrimaryAssignment) -> None:
                async with gate:
                    copied, functions = await _load_node_group(
                        store,
                        manifest,
                        primary,
                        connections[primary.address],
                        work_dir,
                        loaders[primary.node_group_id],
                        say,
                    )
                group = groups[primary.node_group_id]
                group.keys, group.expired, group.functions = copied.keys, copied.expired, functions

            await _all_or_none([load(primary) for primary in plan.primaries])
        await builder.attach_replicas(time.monotonic() + wait_seconds)
        result.cluster_state = await builder.settled(time.monotonic() + wait_seconds)
        return result
    finally:
        for connection in connections.values():
            with contextlib.suppress(Exception):
                await connection.close()
