"""What a failed snapshot leaves behind (nothing) and what it says, on real redis-server, directory and S3."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from devstack import redis_nodes
from devstack.faultproxy import FaultProxy
from devstack.fixtures.redis import RedisFactory
from devstack.redis_nodes import Topology
from redisbackup.domain.plan import plan_single_node
from redisbackup.domain.rdb import ChecksumMismatch
from redisbackup.domain.source import NodeAddress, RedisCredentials, TlsSettings
from redisbackup.redis.faults import (
    ConnectionLost,
    RedisAuthenticationFailed,
    RedisBusy,
    RedisUnreachable,
    SyncNotPermitted,
)
from redisbackup.storage.base import ObjectStore
from redisbackup.workflows.snapshot import take_snapshot
from tests.e2e.datapath_support import address, connection, leftovers, new_location, write_random
from tests.e2e.datapath_support import store as store  # the parametrized fixture

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("diskless", [True, False], ids=["diskless", "disk-based"])
async def test_a_flipped_byte_is_caught_by_the_crc_and_leaves_no_object_and_no_manifest(
    redis_standalone: Topology, store: ObjectStore, request: pytest.FixtureRequest, diskless: bool
) -> None:
    node = redis_standalone.primary
    redis_standalone.set_diskless(diskless)
    with node.client() as client:
        write_random(client, megabytes=12)
    # 2 MB in: past the handshake and the RDB header, inside the data (and into the S3 multipart upload).
    async with FaultProxy(node.host, node.port, flip_at=2_000_000) as proxy:
        with pytest.raises(ChecksumMismatch, match=f"{proxy.host}:{proxy.port}.*failed its CRC-64 check"):
            await take_snapshot(
                plan_single_node("c", NodeAddress(proxy.host, proxy.port)), store, new_location(), connection(node)
            )
    assert proxy.flipped
    assert leftovers(store, request) == []


@pytest.mark.parametrize("diskless", [True, False], ids=["diskless", "disk-based"])
async def test_killing_redis_mid_stream_is_connection_lost_and_leaves_nothing(
    redis_factory: RedisFactory, store: ObjectStore, request: pytest.FixtureRequest, diskless: bool
) -> None:
    node = redis_factory.standalone(diskless=diskless).primary
    with node.client() as client:
        write_random(client, megabytes=40)

    def kill_at_a_quarter(done: int, total: int | None) -> None:
        if done > 10 << 20 and node.process.alive():
            node.process.signal(signal.SIGKILL)  # the server and its forked child

    with pytest.raises(ConnectionLost, match=f"connection to {node.host}:{node.port} was lost after") as caught:
        await take_snapshot(
            plan_single_node("c", address(node)),
            store,
            new_location(),
            connection(node),
            progress=kill_at_a_quarter,
            progress_interval=0,
        )
    assert caught.value.transient is True
    assert not node.process.alive()
    assert leftovers(store, request) == []


async def test_a_wrong_password_is_refused_by_name(redis_password: Topology, store: ObjectStore) -> None:
    node = redis_password.primary
    with pytest.raises(RedisAuthenticationFailed, match="rejected the default user's password") as caught:
        await take_snapshot(
            plan_single_node("c", address(node)), store, new_location(), connection(node, password="not-it")
        )
    assert caught.value.code == "RedisAuthenticationFailed"
    assert "not-it" not in str(caught.value)


async def test_a_missing_password_says_one_is_needed(redis_password: Topology, store: ObjectStore) -> None:
    node = redis_password.primary
    settings = connection(node)
    settings = type(settings)(credentials=RedisCredentials(), tls=None)
    with pytest.raises(RedisAuthenticationFailed, match="requires a password and none was given"):
        await take_snapshot(plan_single_node("c", address(node)), store, new_location(), settings)


async def test_an_acl_user_without_sync_is_told_which_permissions_a_snapshot_needs(
    redis_acl: Topology, store: ObjectStore, request: pytest.FixtureRequest
) -> None:
    node = redis_acl.primary
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=50)
    nosync = node.acl_users["nosync"]
    with pytest.raises(SyncNotPermitted, match=r"ACL user 'nosync' may not run SYNC.*\+sync \+psync \+replconf"):
        await take_snapshot(
            plan_single_node("c", address(node)),
            store,
            new_location(),
            connection(node, username=nosync.name, password=nosync.password),
        )
    assert leftovers(store, request) == []


async def test_a_renamed_sync_command_is_reported_as_disabled(redis_factory: RedisFactory, store: ObjectStore) -> None:
    node = redis_factory.standalone(extra={"rename-command": 'SYNC ""'}).primary
    with pytest.raises(SyncNotPermitted, match="SYNC is disabled or renamed"):
        await take_snapshot(plan_single_node("c", address(node)), store, new_location(), connection(node))


async def test_a_replica_that_lost_its_primary_is_busy_not_broken(
    redis_factory: RedisFactory, store: ObjectStore
) -> None:
    topology = redis_factory.replicated(replicas=1)
    topology.primary.stop()
    replica = topology.replicas[0]
    with pytest.raises(RedisBusy, match="NOMASTERLINK") as caught:
        await take_snapshot(plan_single_node("c", address(replica)), store, new_location(), connection(replica))
    assert caught.value.transient is True


async def test_tls_with_an_untrusted_certificate_is_refused(
    redis_tls: Topology, store: ObjectStore, tmp_path: Path
) -> None:
    node = redis_tls.primary
    other_ca = redis_factory_ca(tmp_path)
    settings = type(connection(node))(tls=TlsSettings(ca_file=str(other_ca)))
    with pytest.raises(RedisUnreachable, match="failed certificate verification") as caught:
        await take_snapshot(plan_single_node("c", address(node)), store, new_location(), settings)
    assert caught.value.transient is False


def redis_factory_ca(tmp_path: Path) -> Path:
    from devstack.tls import CertificateAuthority

    path = tmp_path / "other-ca.crt"
    path.write_bytes(CertificateAuthority("someone-else").pem)
    return path
