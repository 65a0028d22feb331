"""Real redis-server (or valkey-server) topologies for tests, benchmarks and `make demo`.

Each node runs a Debian server through `devstack.processes.Process` on its own 127.0.0.x address (as every Pod
has its own IP), with a config file in its data directory (passwords never appear in `ps`). The server is the
host's own `redis-server` unless a `release` of `devstack.versions` is named (Redis 6.0 … Valkey 8.1); options a
release lacks are left out of its configuration. Topologies:

- `standalone()` — one node; options for a password, ACL users, TLS, diskless or disk-based replication;
- `replicated()` — a primary and N replicas (`replicaof`), ready when every replica's link is up;
- `cluster()` — Redis Cluster, N shards x (1 primary + M replicas), all 16384 slots assigned, cluster_state:ok;
- `from_rdb()` — a fresh node that loads a given RDB file at start (to check what a snapshot holds).

`repl-diskless-sync` decides how a SYNC is answered: yes → `$EOF:<mark>` framing, no → `$<len>` (the server
saves dump.rdb to disk first). `Topology.set_diskless()` switches a running topology, so one session topology
serves both kinds of test.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis
import redis.cluster

from devstack.net import free_port, free_port_pair, next_host
from devstack.processes import Process
from devstack.tls import CertFiles, CertificateAuthority
from devstack.versions import HOST, Release

SLOTS = 16384

# What a backup user needs and nothing more: the replication handshake (AUTH is always allowed), INFO for the
# engine version, and the read-only CLUSTER sub-commands for topology discovery. Documented for users too.
BACKUP_ACL_RULES = "+ping +info +replconf +sync +psync +cluster|shards +cluster|nodes +cluster|info"
# An application user that may do everything except become a replica.
NO_SYNC_ACL_RULES = "~* &* +@all -sync -psync"

Role = Literal["primary", "replica"]
Kind = Literal["standalone", "replicated", "cluster"]


@dataclass(frozen=True)
class AclUser:
    name: str
    password: str
    rules: str


@dataclass
class RedisNode:
    """One redis-server. `username`/`password` are the credentials a backup should use (None: no auth)."""

    name: str
    host: str
    port: int
    role: Role
    data_dir: Path
    process: Process
    password: str | None = None
    username: str | None = None
    tls: CertFiles | None = None  # the server's certificate (its `ca` verifies it)
    client_tls: CertFiles | None = None  # a client certificate from the same CA, for mutual TLS
    admin_password: str | None = None  # the default user's password, for test set-up (DEBUG, FLUSHALL…)
    acl_users: dict[str, AclUser] = field(default_factory=dict)
    cluster_id: str | None = None  # CLUSTER MYID, cluster nodes only
    cluster_bus_port: int | None = None
    release: Release = HOST

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def image(self) -> str:
        """The container image a Pod of this node would run (devstack.mirror shows it in Pod specs)."""
        return self.release.image

    @property
    def url(self) -> str:
        """redis://[user:password@]host:port (rediss:// for TLS) with the backup credentials."""
        scheme = "rediss" if self.tls else "redis"
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:{self.password}@"
        return f"{scheme}://{auth}{self.host}:{self.port}"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client with admin rights on this node (the default user), TLS when the node has it."""
        options: dict[str, Any] = {"host": self.host, "port": self.port, "password": self.admin_password}
        if self.tls is not None and self.client_tls is not None:
            options.update(
                ssl=True,
                ssl_ca_certs=str(self.tls.ca),
                ssl_certfile=str(self.client_tls.cert),
                ssl_keyfile=str(self.client_tls.key),
            )
        options.update(kwargs)
        return redis.Redis(**options)

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as client:
            result: dict[str, Any] = client.info(section)
            return result

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        self.process.kill()


@dataclass
class Shard:
    primary: RedisNode
    replicas: list[RedisNode]
    slots: tuple[int, int]  # first and last slot, inclusive

    @property
    def nodes(self) -> list[RedisNode]:
        return [self.primary, *self.replicas]


@dataclass
class Topology:
    name: str
    kind: Kind
    nodes: list[RedisNode]
    shards: list[Shard] = field(default_factory=list)  # cluster only

    @property
    def primary(self) -> RedisNode:
        """The (first) primary: the node itself for standalone, the primary of a replicated set."""
        return next(n for n in self.nodes if n.role == "primary")

    @property
    def primaries(self) -> list[RedisNode]:
        return [n for n in self.nodes if n.role == "primary"]

    @property
    def replicas(self) -> list[RedisNode]:
        return [n for n in self.nodes if n.role == "replica"]

    def cluster_client(self) -> redis.cluster.RedisCluster:
        node = self.primary
        return redis.cluster.RedisCluster(host=node.host, port=node.port, password=node.admin_password)

    def set_diskless(self, diskless: bool) -> None:
        """Switch how SYNC is answered on every node: `$EOF:` streaming (True) or `$<len>` from disk (False)."""
        for node in self.nodes:
            with node.client() as client:
                client.config_set("repl-diskless-sync", "yes" if diskless else "no")

    def flush(self) -> None:
        """Empty every primary and wait until the replicas have caught up (a fresh data set per test)."""
        for node in self.primaries:
            with node.client() as client:
                client.flushall()
        wait_replicas_in_sync(self)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                node.stop()


# ---------------------------------------------------------------------------------------------------- one node
def _config_lines(
    *,
    release: Release,
    host: str,
    port: int,
    data_dir: Path,
    diskless: bool,
    admin_password: str | None,
    acl_users: Sequence[AclUser],
    tls: CertFiles | None,
    client_tls: CertFiles | None,
    tls_client_auth: bool,
    cluster_bus_port: int | None,
    replicaof: RedisNode | None,
    extra: Mapping[str, str],
) -> list[str]:
    seven = release.line >= (7, 0)  # Valkey's lines (8.x) are past it too
    lines = [
        f"bind {host}",
        # Without these, connections a node opens (replication, cluster bus) leave from 127.0.0.1 and peers
        # would record that instead of the node's own address, as on a real network they would not.
        *([f"bind-source-addr {host}"] if seven else []),  # Redis 7.0+; 6.0 relies on the announce-ip below
        f"replica-announce-ip {host}",
        "protected-mode no",
        f"dir {data_dir}",
        "dbfilename dump.rdb",
        'save ""',
        "appendonly no",
        'logfile ""',
        "daemonize no",
        *(["enable-debug-command yes"] if seven else []),  # 7.0+; before it, DEBUG is always allowed
        f"repl-diskless-sync {'yes' if diskless else 'no'}",
        "repl-diskless-sync-delay 0",
        "repl-diskless-load disabled",
    ]
    if tls is not None and client_tls is not None:
        lines += [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {tls.cert}",
            f"tls-key-file {tls.key}",
            f"tls-ca-cert-file {tls.ca}",
            # Outgoing TLS (replication, cluster bus) presents a client certificate, not the server one.
            f"tls-client-cert-file {client_tls.cert}",
            f"tls-client-key-file {client_tls.key}",
            f"tls-auth-clients {'yes' if tls_client_auth else 'optional'}",
            "tls-replication yes",
            "tls-cluster yes",
        ]
    else:
        lines.append(f"port {port}")
    if admin_password is not None:
        lines += [f"requirepass {admin_password}", f"masterauth {admin_password}"]
    lines += [f"user {u.name} on >{u.password} {u.rules}" for u in acl_users]
    if cluster_bus_port is not None:
        lines += [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 5000",
            f"cluster-announce-ip {host}",
        ]
        if seven:  # the bus port defaults to port + 10000 (all 6.0 knows), which overflows for high ports
            lines.append(f"cluster-port {cluster_bus_port}")
    if replicaof is not None:
        lines.append(f"replicaof {replicaof.host} {replicaof.port}")
    lines += [f"{key} {value}" for key, value in extra.items()]
    return lines


def start_node(
    name: str,
    base_dir: Path,
    *,
    role: Role = "primary",
    diskless: bool = True,
    password: str | None = None,
    acl: bool = False,
    tls: CertificateAuthority | None = None,
    tls_client_auth: bool = False,
    cluster: bool = False,
    replicaof: RedisNode | None = None,
    extra: Mapping[str, str] | None = None,
    wait: bool = True,
    release: Release = HOST,
) -> RedisNode:
    """Start one server of `release` on a fresh 127.0.0.x address; return once it answers PING (unless wait=False).

    `acl=True` adds the users `backup` (just what a snapshot needs) and `nosync` (everything but SYNC/PSYNC); the
    node's `username`/`password` are then `backup`'s. `password` alone protects the default user (requirepass).
    """
    release.ensure()
    host = next_host()
    old_cluster = cluster and release.line < (7, 0)
    port, bus_port = free_port_pair(host, 10000) if old_cluster else (free_port(host), None)
    data_dir = base_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    admin_password = password
    users: list[AclUser] = []
    if acl:
        admin_password = admin_password or secrets.token_hex(8)
        users = [
            AclUser("backup", secrets.token_hex(8), BACKUP_ACL_RULES),
            AclUser("nosync", secrets.token_hex(8), NO_SYNC_ACL_RULES),
        ]
    if cluster and bus_port is None:
        bus_port = free_port(host)
    certs = client_certs = None
    if tls is not None:
        certs = tls.issue(data_dir / "tls", name, [host, "localhost"])
        client_certs = tls.issue(data_dir / "tls", f"{name}-client", [f"{name}-client"], client=True)
    config = data_dir / "redis.conf"
    config.write_text(
        "\n".join(
            _config_lines(
                release=release,
                host=host,
                port=port,
                data_dir=data_dir,
                diskless=diskless,
                admin_password=admin_password,
                acl_users=users,
                tls=certs,
                client_tls=client_certs,
                tls_client_auth=tls_client_auth,
                cluster_bus_port=bus_port,
                replicaof=replicaof,
                extra=extra or {},
            )
        )
        + "\n"
    )
    config.chmod(0o600)
    process = Process(f"redis-{name}", release.argv("server", str(config)), log_dir=base_dir / "logs")
    node = RedisNode(
        name=name,
        host=host,
        port=port,
        role=role,
        data_dir=data_dir,
        process=process,
        password=users[0].password if users else password,
        username=users[0].name if users else None,
        tls=certs,
        client_tls=client_certs,
        admin_password=admin_password,
        acl_users={u.name: u for u in users},
        cluster_bus_port=bus_port,
        release=release,
    )
    if wait:
        wait_answers(node)
    return node


def wait_answers(node: RedisNode, timeout: float = 30.0) -> None:
    def answers() -> bool:
        with node.client(socket_timeout=1) as client:
            return bool(client.ping())

    node.process.wait_ready(answers, timeout=timeout, what=f"answering PING on {node.address}")


# ---------------------------------------------------------------------------------------------------- topologies
def standalone(base_dir: Path, name: str = "standalone", **options: Any) -> Topology:
    """One node; `options` go to `start_node` (password=, acl=, tls=, diskless=…)."""
    return Topology(name=name, kind="standalone", nodes=[start_node(f"{name}-0", base_dir, **options)])


def replicated(base_dir: Path, name: str = "replicated", *, replicas: int = 2, **options: Any) -> Topology:
    """A primary and `replicas` replicas, returned when every replica has finished its initial sync."""
    primary = start_node(f"{name}-0", base_dir, **options)
    nodes = [primary]
    try:
        for i in range(1, replicas + 1):
            nodes.append(start_node(f"{name}-{i}", base_dir, role="replica", replicaof=primary, **options))
        topology = Topology(name=name, kind="replicated", nodes=nodes)
        wait_replicas_in_sync(topology)
    except BaseException:
        Topology(name=name, kind="replicated", nodes=nodes).stop()
        raise
    return topology


def slot_ranges(shards: int) -> list[tuple[int, int]]:
    """Even contiguous slot ranges, as `redis-cli --cluster create` assigns them."""
    bounds = [round(i * SLOTS / shards) for i in range(shards + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(shards)]


def cluster(
    base_dir: Path, name: str = "cluster", *, shards: int = 3, replicas: int = 1, timeout: float = 60.0, **options: Any
) -> Topology:
    """A Redis Cluster: `shards` primaries owning all slots, each with `replicas` replicas; cluster_state:ok."""
    nodes: list[RedisNode] = []
    topology = Topology(name=name, kind="cluster", nodes=nodes)
    try:
        for i in range(shards * (1 + replicas)):
            role: Role = "primary" if i < shards else "replica"
            nodes.append(start_node(f"{name}-{i}", base_dir, role=role, cluster=True, **options))
        for node in nodes:
            with node.client() as client:
                node.cluster_id = str(client.execute_command("CLUSTER", "MYID"), "ascii")
        primaries = nodes[:shards]
        for i, (primary, (first, last)) in enumerate(zip(primaries, slot_ranges(shards), strict=True)):
            with primary.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))  # ADDSLOTSRANGE: 7.0+
            shard_replicas = nodes[shards + i * replicas : shards + (i + 1) * replicas]
            topology.shards.append(Shard(primary=primary, replicas=shard_replicas, slots=(first, last)))
        seed = nodes[0]
        for node in nodes[1:]:
            with node.client() as client:
                # 6.0's MEET takes no bus port: its bus is always port + 10000 (free_port_pair saw to that)
                bus = [seed.cluster_bus_port] if seed.cluster_bus_port != seed.port + 10000 else []
                client.execute_command("CLUSTER", "MEET", seed.host, seed.port, *bus)
        _wait(lambda: all(_known_nodes(n) == len(nodes) for n in nodes), timeout, f"{name}: nodes met")
        for shard in topology.shards:
            for replica in shard.replicas:
                with replica.client() as client:
                    client.execute_command("CLUSTER", "REPLICATE", shard.primary.cluster_id)
        _wait(
            lambda: all(_cluster_ok(n, shards * replicas) for n in nodes),
            timeout,
            f"{name}: cluster_state:ok and every replica known on every node",
        )
        wait_replicas_in_sync(topology, timeout)
    except BaseException:
        topology.stop()
        raise
    return topology


def from_rdb(base_dir: Path, rdb: Path, name: str = "restored", *, release: Release = HOST) -> RedisNode:
    """A fresh standalone node whose data set is the given RDB file (loaded at start, as a restore would)."""
    data_dir = base_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rdb, data_dir / "dump.rdb")
    node = start_node(name, base_dir, release=release)
    with node.client() as client:
        _wait(lambda: client.info("persistence")["loading"] == 0, 60, f"{name}: RDB loaded")
    return node


# ---------------------------------------------------------------------------------------------------- waiting
def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            if condition():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not {what} after {timeout:.0f}s")
        time.sleep(0.1)


def _known_nodes(node: RedisNode) -> int:
    with node.client() as client:
        return int(client.execute_command("CLUSTER", "INFO").decode().split("cluster_known_nodes:")[1].split()[0])


def _cluster_ok(node: RedisNode, replicas: int) -> bool:
    """cluster_state:ok, and gossip has told this node about every replica (CLUSTER SHARDS lists them)."""
    with node.client() as client:
        if "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO").decode():
            return False
        lines = client.execute_command("CLUSTER", "NODES").decode().splitlines()
    return sum("slave" in line.split()[2].split(",") for line in lines) == replicas


def wait_replicas_in_sync(topology: Topology, timeout: float = 60.0) -> None:
    """Every replica linked to its primary and at the primary's replication offset."""

    def in_sync() -> bool:
        for replica in topology.replicas:
            info = replica.info("replication")
            if info.get("master_link_status") != "up":
                return False
            primary = next(n for n in topology.nodes if n.port == info["master_port"] and n.host == info["master_host"])
            if primary.info("replication")["master_repl_offset"] != info["slave_repl_offset"]:
                return False
        return True

    _wait(in_sync, timeout, f"{topology.name}: replicas in sync")


def wait_cluster_gossip(topology: Topology, timeout: float = 30.0) -> None:
    """Every node's CLUSTER SHARDS shows every replica online at its primary's offset.

    Replication offsets reach other nodes by gossip, a few seconds late, and Redis 7.0 reports a replica whose
    gossiped offset is still 0 as `loading`. Tests that expect a snapshot to read from replicas wait for this.
    Redis 6.0 has no CLUSTER SHARDS (snapshots read its CLUSTER NODES, which carries no offsets): replicas in sync
    is all there is to wait for.
    """

    def settled(node: RedisNode) -> bool:
        with node.client() as client:
            try:
                shards = client.execute_command("CLUSTER", "SHARDS")
            except redis.ResponseError as refused:
                if "unknown subcommand" in str(refused).lower():
                    return True
                raise
        for shard in shards:
            members = shard[b"nodes"]
            offsets = {m[b"role"]: m[b"replication-offset"] for m in members}
            for member in members:
                if member[b"health"] != b"online" or member[b"replication-offset"] != offsets[b"master"]:
                    return False
        return True

    wait_replicas_in_sync(topology, timeout)
    _wait(lambda: all(settled(n) for n in topology.nodes), timeout, f"{topology.name}: offsets gossiped")


# ---------------------------------------------------------------------------------------------------- data
def dataset(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key of db 0 with its DUMP payload: equal dicts mean equal data sets (same server version)."""
    result: dict[bytes, bytes] = {}
    for key in client.scan_iter(count=1000):
        payload = client.dump(key)
        if payload is not None:
            result[key] = payload
    return result


def digest(client: redis.Redis) -> str:
    """DEBUG DIGEST: one hash over the whole data set (all dbs, values and expiries)."""
    return str(client.execute_command("DEBUG", "DIGEST"), "ascii")


def fill_mixed(client: redis.Redis | redis.cluster.RedisCluster, *, prefix: str = "k", count: int = 200) -> int:
    """Write every Redis type, binary values and TTLs; return how many keys were written."""
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        key = f"{prefix}:{i}"
        match i % 7:
            case 0:
                pipe.set(f"{key}:str", secrets.token_bytes(i % 300 + 1))
            case 1:
                pipe.hset(f"{key}:hash", mapping={f"f{j}": secrets.token_hex(j + 1) for j in range(i % 20 + 1)})
            case 2:
                pipe.rpush(f"{key}:list", *[secrets.token_bytes(8) for _ in range(i % 30 + 1)])
            case 3:
                pipe.sadd(f"{key}:set", *[str(j) for j in range(i % 40 + 1)])
            case 4:
                pipe.zadd(f"{key}:zset", {f"m{j}": j / 3 for j in range(i % 25 + 1)})
            case 5:
                pipe.xadd(f"{key}:stream", {"field": secrets.token_hex(4)})
            case _:
                pipe.set(f"{key}:ttl", b"expires later", ex=3600)
    pipe.execute()
    return count


@contextlib.contextmanager
def running(topology: Topology) -> Iterator[Topology]:
    try:
        yield topology
    finally:
        topology.stop()
