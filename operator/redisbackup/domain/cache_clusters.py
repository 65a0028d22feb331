"""Redis workloads as ElastiCache shows them: each Redis Pod a CacheCluster, each group of them a ReplicationGroup.

The mapping follows what CreateSnapshot accepts (`redisbackup.domain.resolution`), so every id shown here can be
snapshotted by that name:

- a **cache cluster** is one Redis Pod (ElastiCache's node-sized cluster, e.g. `mycluster-002`): its id is the Pod's
  name, its one node `0001` is the Pod (address, port, readiness);
- a **replication group** is a StatefulSet running more than one Redis Pod, or the Pods labelled
  `redisbackup.io/replication-group=<id>`; its members are those Pods.

A Pod runs Redis when a container has a port named `redis` or `tcp-redis` (what the operator connects to), or runs
an image of Redis or Valkey, unless it is a Job's or has ended (a task run from the Redis image, not a server). What
only Redis knows — a Redis Cluster's shards and slots, which node of a replicated set is the primary — comes from a
`GroupTopology` when the group's Redis could be asked (`redisbackup.elasticache` asks without credentials); without
one, a group shows its members as one node group and says nothing it does not know. Fields without a Kubernetes
meaning (VPC, parameter groups, maintenance windows) are left out, not invented.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redisbackup.api.naming import resolved_identifier
from redisbackup.domain.cluster import ClusterShard, node_groups
from redisbackup.domain.elasticache import elasticache_time
from redisbackup.domain.plan import Role, format_slots
from redisbackup.domain.pods import (
    REDIS_PORT_NAMES,
    SNAPSHOTTING_ANNOTATION,
    Body,
    controller_of,
    is_ready,
    node_type,
    pods_of,
    redis_port,
)
from redisbackup.domain.resolution import REPLICATION_GROUP_LABEL

TAGS_ANNOTATION = "redisbackup.io/tags"
"""Where the ElastiCache tags of a Pod (cache cluster) or StatefulSet (replication group) are kept, as JSON."""
REDIS_IMAGES = ("redis", "valkey", "redis-cluster", "valkey-cluster", "redis-stack-server", "redis-stack")
_VERSION = re.compile(r"^v?(\d+\.\d+(?:\.\d+)?)")


def _image_name(image: str) -> tuple[str, str]:
    """("redis", "7.2.4-debian-12-r0") of "docker.io/bitnami/redis:7.2.4-debian-12-r0@sha256:…"."""
    reference = image.split("@", 1)[0]
    name, _, tag = reference.rsplit("/", 1)[-1].partition(":")
    return name, tag


def _containers(pod: Body) -> list[Mapping[str, Any]]:
    return list((pod.get("spec") or {}).get("containers") or [])


def _redis_container(pod: Body) -> Mapping[str, Any] | None:
    for container in _containers(pod):
        if any(port.get("name") in REDIS_PORT_NAMES for port in container.get("ports") or []):
            return container
    for container in _containers(pod):
        if _image_name(str(container.get("image", "")))[0] in REDIS_IMAGES:
            return container
    return None


def runs_to_completion(pod: Body) -> bool:
    """A Pod of a Job (e.g. the one that joins a Redis Cluster with `redis-cli --cluster create`, from the Redis
    image), or one that has ended: a task, never a Redis server anyone could back up."""
    controller = controller_of(pod)
    phase = (pod.get("status") or {}).get("phase")
    return (controller is not None and controller[0] == "Job") or phase in {"Succeeded", "Failed"}


def is_redis_pod(pod: Body) -> bool:
    if runs_to_completion(pod):
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return REPLICATION_GROUP_LABEL in labels or _redis_container(pod) is not None


def engine(pod: Body) -> tuple[str | None, str | None]:
    """(engine, version) as the Redis container's image declares them; (None, None) when it does not say."""
    container = _redis_container(pod)
    if container is None:
        return None, None
    name, tag = _image_name(str(container.get("image", "")))
    if name not in REDIS_IMAGES:
        return None, None
    version = _VERSION.match(tag)
    return ("valkey" if name.startswith("valkey") else "redis"), (version[1] if version else None)


def tags_of(body: Body) -> dict[str, str]:
    """The tags kept in an object's annotation (an unreadable annotation counts as none)."""
    text = ((body.get("metadata") or {}).get("annotations") or {}).get(TAGS_ANNOTATION)
    try:
        tags = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def _labels(body: Body) -> Mapping[str, str]:
    return (body.get("metadata") or {}).get("labels") or {}


def _name(body: Body) -> str:
    return str((body.get("metadata") or {}).get("name", ""))


def _snapshotting(body: Body | None) -> bool:
    return bool(((body or {}).get("metadata") or {}).get("annotations", {}).get(SNAPSHOTTING_ANNOTATION))


def _status(pods: Sequence[Body], workload: Body | None) -> str:
    """ElastiCache's status words: available, creating (no Pod Ready yet), modifying, deleting, snapshotting."""
    if workload is not None and (workload.get("metadata") or {}).get("deletionTimestamp"):
        return "deleting"
    if _snapshotting(workload) or any(_snapshotting(pod) for pod in pods):
        return "snapshotting"
    ready = [pod for pod in pods if is_ready(pod)]
    if pods and len(ready) == len(pods):
        return "available"
    if all((pod.get("metadata") or {}).get("deletionTimestamp") for pod in pods) and pods:
        return "deleting"
    return "creating" if not ready else "modifying"


def _endpoint(pod: Body) -> dict[str, Any] | None:
    address = (pod.get("status") or {}).get("podIP")
    return {"Address": address, "Port": redis_port(pod, None)} if address else None


def _created(body: Body) -> str | None:
    text = (body.get("metadata") or {}).get("creationTimestamp")
    if not text:
        return None
    return elasticache_time(dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")))


def _without_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


@dataclass(frozen=True)
class RedisWorkloads:
    """The Redis Pods of a namespace and the StatefulSets that run them, as the API listed them."""

    pods: tuple[Body, ...]
    statefulsets: tuple[Body, ...]

    @classmethod
    def of(cls, pods: Sequence[Body], statefulsets: Sequence[Body]) -> RedisWorkloads:
        redis = tuple(sorted((pod for pod in pods if is_redis_pod(pod)), key=_name))
        running = {owner[1] for pod in redis if (owner := controller_of(pod)) and owner[0] == "StatefulSet"}
        return cls(redis, tuple(sorted((sts for sts in statefulsets if _name(sts) in running), key=_name)))

    def _statefulset(self, name: str) -> Body | None:
        return next((sts for sts in self.statefulsets if _name(sts) == name), None)

    def _statefulset_of(self, pod: Body) -> Body | None:
        owner = controller_of(pod)
        return self._statefulset(owner[1]) if owner is not None and owner[0] == "StatefulSet" else None

    def group_of(self, pod: Body) -> str | None:
        """A Pod's ReplicationGroupId: its label, else its StatefulSet's when that runs several Redis Pods."""
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if REPLICATION_GROUP_LABEL in labels:
            return str(labels[REPLICATION_GROUP_LABEL])
        statefulset = self._statefulset_of(pod)
        if statefulset is not None and len(pods_of(statefulset, self.pods)) > 1:
            return _name(statefulset)
        return None

    def cache_clusters(self) -> list[tuple[str, Body, str | None]]:
        """(CacheClusterId, Pod, ReplicationGroupId) of every Redis node, as CreateSnapshot names them: a
        StatefulSet that runs one Redis Pod by the StatefulSet's name, any other Pod by its own."""
        found = []
        for pod in self.pods:
            statefulset = self.node_statefulset(pod)
            found.append((_name(statefulset) if statefulset else _name(pod), pod, self.group_of(pod)))
        return sorted(found, key=lambda entry: entry[0])

    def node_statefulset(self, pod: Body) -> Body | None:
        """The StatefulSet that runs `pod` as its only Redis node: the node is named, snapshotted and annotated
        (`redisbackup.io/snapshotting`) through it. None for any other Pod."""
        statefulset = self._statefulset_of(pod)
        if statefulset is None or self.group_of(pod) is not None or len(pods_of(statefulset, self.pods)) != 1:
            return None
        return statefulset

    def group(self, group_id: str) -> tuple[Body | None, list[Body]] | None:
        """The replication group CreateSnapshot would resolve `group_id` to: (its StatefulSet, its Pods), or
        (None, the labelled Pods); None when there is neither."""
        name = resolved_identifier(group_id)
        statefulset = self._statefulset(name)
        if statefulset is not None:
            return statefulset, pods_of(statefulset, self.pods)
        wanted = {group_id, name}
        labelled = [pod for pod in self.pods if _labels(pod).get(REPLICATION_GROUP_LABEL) in wanted]
        return (None, labelled) if labelled else None

    def groups(self) -> dict[str, tuple[Body | None, list[Body]]]:
        """Every replication group by id, in id order."""
        ids = sorted({group for pod in self.pods if (group := self.group_of(pod)) is not None})
        return {group_id: found for group_id in ids if (found := self.group(group_id)) is not None}


def cache_cluster(
    cluster_id: str,
    pod: Body,
    group: str | None,
    *,
    show_node_info: bool,
    arn: str | None,
    statefulset: Body | None = None,
) -> dict[str, Any]:
    """A Redis Pod as ElastiCache's CacheCluster (one node, `0001`); `statefulset`: the one that runs it as its only
    node (`RedisWorkloads.node_statefulset`), whose annotation says it is snapshotting."""
    name, version = engine(pod)
    status = _status([pod], statefulset)
    document: dict[str, Any] = {
        "CacheClusterId": cluster_id,
        "CacheNodeType": node_type(pod),
        "Engine": name,
        "EngineVersion": version,
        "CacheClusterStatus": status,
        "NumCacheNodes": 1,
        "CacheClusterCreateTime": _created(pod),
        "ReplicationGroupId": group,
        "ARN": arn,
    }
    if show_node_info:
        node = {
            "CacheNodeId": "0001",
            "CacheNodeStatus": "available" if status in ("available", "snapshotting") else status,
            "CacheNodeCreateTime": _created(pod),
            "Endpoint": _endpoint(pod),
        }
        document["CacheNodes"] = [_without_none(node)]
    return _without_none(document)


@dataclass(frozen=True)
class GroupTopology:
    """What a group's Redis said about itself: a Redis Cluster's shards, or each node's role in a replicated set."""

    shards: tuple[ClusterShard, ...] | None = None
    roles: Mapping[str, Role] | None = None  # Pod name → primary | replica (cluster mode disabled)


def _cluster_groups(shards: Sequence[ClusterShard], pods: Sequence[Body]) -> list[dict[str, Any]]:
    by_ip = {str((pod.get("status") or {}).get("podIP")): pod for pod in pods}
    groups = []
    for group_id, shard in node_groups(shards):
        members = []
        for node in shard.nodes:
            pod = by_ip.get(node.ip)
            endpoint = {"Address": node.ip, "Port": node.port or node.tls_port}
            member = {"CacheClusterId": _name(pod) if pod else None, "CacheNodeId": "0001", "ReadEndpoint": endpoint}
            members.append(_without_none(member))
        healthy = all(node.health == "online" for node in shard.nodes)
        groups.append(
            {
                "NodeGroupId": group_id,
                "Status": "available" if healthy else "modifying",
                "Slots": format_slots(shard.slots),
                "NodeGroupMembers": members,
            }
        )
    return groups


def _replicated_group(status: str, pods: Sequence[Body], roles: Mapping[str, Role]) -> dict[str, Any]:
    primary = next((pod for pod in pods if roles.get(_name(pod)) == "primary"), None)
    members = [
        _without_none(
            {
                "CacheClusterId": _name(pod),
                "CacheNodeId": "0001",
                "ReadEndpoint": _endpoint(pod),
                "CurrentRole": roles.get(_name(pod)),
            }
        )
        for pod in pods
    ]
    group: dict[str, Any] = {"NodeGroupId": "0001", "Status": status, "NodeGroupMembers": members}
    if primary is not None and (endpoint := _endpoint(primary)) is not None:
        group["PrimaryEndpoint"] = endpoint
    return group


def replication_group(
    group_id: str,
    statefulset: Body | None,
    pods: Sequence[Body],
    *,
    arn: str | None,
    topology: GroupTopology | None = None,
) -> dict[str, Any]:
    """A StatefulSet of Redis Pods (or a labelled set of them) as ElastiCache's ReplicationGroup."""
    status = _status(pods, statefulset)
    described = (
        f"StatefulSet {group_id}: {len(pods)} Redis pods"
        if statefulset is not None
        else f"Pods labelled {REPLICATION_GROUP_LABEL}={group_id}: {len(pods)} Redis pods"
    )
    members = [
        _without_none({"CacheClusterId": _name(pod), "CacheNodeId": "0001", "ReadEndpoint": _endpoint(pod)})
        for pod in pods
    ]
    first = pods[0] if pods else None
    created = statefulset if statefulset is not None else first
    groups: list[dict[str, Any]] = [{"NodeGroupId": "0001", "Status": status, "NodeGroupMembers": members}]
    clustered: bool | None = None
    failover: str | None = None
    if topology is not None and topology.shards is not None:
        clustered, groups = True, _cluster_groups(topology.shards, pods)
        failover = "enabled" if groups and all(len(g["NodeGroupMembers"]) > 1 for g in groups) else "disabled"
    elif topology is not None and topology.roles is not None:
        clustered, groups = False, [_replicated_group(status, pods, topology.roles)]
    document = {
        "ReplicationGroupId": group_id,
        "Description": described,
        "Status": status,
        "MemberClusters": [_name(pod) for pod in pods],
        "NodeGroups": groups,
        "AutomaticFailover": failover,
        "ClusterEnabled": clustered,
        "ClusterMode": None if clustered is None else ("enabled" if clustered else "disabled"),
        "CacheNodeType": node_type(first) if first is not None else None,
        "ARN": arn,
        "ReplicationGroupCreateTime": _created(created) if created is not None else None,
        "Engine": engine(first)[0] if first is not None else None,
    }
    return _without_none(document)
