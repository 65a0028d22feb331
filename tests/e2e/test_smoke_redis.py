"""Smoke: the Redis topologies are real servers, and mirrored Pods lead to them the way the operator will look."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import redis
from kubernetes import client

from devstack.mirror import Mirror
from devstack.redis_nodes import Topology

pytestmark = pytest.mark.e2e

ALL_SLOTS = set(range(16384))


def _as_dict(entry: Any) -> dict[str, Any]:
    """CLUSTER SHARDS entries come as maps (RESP3) or as flat key/value lists (RESP2)."""
    if isinstance(entry, dict):
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in entry.items()}
    return {entry[i].decode(): entry[i + 1] for i in range(0, len(entry), 2)}


def test_the_redis_cluster_answers_cluster_shards_with_three_shards_covering_every_slot(
    redis_cluster: Topology,
) -> None:
    with redis_cluster.nodes[0].client() as node:
        shards = [_as_dict(shard) for shard in node.execute_command("CLUSTER SHARDS")]

    assert len(shards) == 3
    covered: list[int] = []
    for shard in shards:
        bounds = [int(bound) for bound in shard["slots"]]
        for first, last in zip(bounds[::2], bounds[1::2], strict=True):
            covered.extend(range(first, last + 1))
        roles = sorted(_as_dict(member)["role"] for member in shard["nodes"])
        assert [r.decode() if isinstance(r, bytes) else r for r in roles] == ["master", "replica"]
    assert len(covered) == len(ALL_SLOTS)  # no slot served twice
    assert set(covered) == ALL_SLOTS


def test_a_mirrored_pod_leads_to_its_redis_node_by_pod_ip_port_name_and_secret(
    redis_replicated: Topology, mirror: Mirror, kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    primary = redis_replicated.primary
    with primary.client() as admin:
        admin.set("greeting", "hello from the primary")
        replicas = len(redis_replicated.replicas)
        assert admin.wait(replicas, 10_000) == replicas  # every replica has it before we read there

    mirrored = mirror(redis_replicated, namespace, "orders")

    roles = {}
    for pod_name in mirrored.pods:
        pod = core.read_namespaced_pod(pod_name, namespace)
        port = next(p.container_port for p in pod.spec.containers[0].ports if p.name == "redis")
        password = None
        if mirrored.auth_secret:
            secret = core.read_namespaced_secret(mirrored.auth_secret, namespace)
            password = base64.b64decode(secret.data["password"]).decode()
        with redis.Redis(host=pod.status.pod_ip, port=port, password=password) as found:
            roles[pod_name] = found.role()[0].decode()
            assert found.get("greeting") == b"hello from the primary"
    expected = {pod: "master" if node.role == "primary" else "slave" for pod, node in mirrored.nodes.items()}
    assert roles == expected


def test_a_password_protected_node_is_mirrored_with_its_credentials_secret(
    redis_password: Topology, mirror: Mirror, kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)

    mirrored = mirror(redis_password, namespace, "secured")

    assert mirrored.auth_secret == "secured-auth"
    secret = core.read_namespaced_secret("secured-auth", namespace)
    password = base64.b64decode(secret.data["password"]).decode()
    pod = core.read_namespaced_pod("secured-0", namespace)
    env = {e.name: e.value_from.secret_key_ref.name for e in pod.spec.containers[0].env if e.value_from}
    assert env == {"REDIS_PASSWORD": "secured-auth"}
    node = redis_password.nodes[0]
    with redis.Redis(host=pod.status.pod_ip, port=node.port, password=password) as found:
        assert found.ping() is True
    # retry=None: redis-py 8 otherwise retries an authentication failure with backoff for seconds.
    anonymous = redis.Redis(host=pod.status.pod_ip, port=node.port, retry=None)
    with anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.ping()
