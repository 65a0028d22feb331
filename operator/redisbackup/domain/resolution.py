"""Which Pod(s) a RedisBackup reads from, decided from the Pods and StatefulSets the k8s layer fetched.

The rules follow ElastiCache's CreateSnapshot (DESIGN.md §3):

- `cacheClusterId` names one node: a Pod of that name, or a StatefulSet with a single Pod. A StatefulSet with more
  Pods is a cluster with replicas, and ElastiCache then wants the node named (`mycluster-002`): so do we.
- `replicationGroupId` names a Redis Cluster: a StatefulSet of that name, or the Pods labelled
  `redisbackup.io/replication-group=<id>`; every Ready Pod is a seed for CLUSTER SHARDS.
- Identifiers are case-insensitive (ElastiCache stores them in lower case; Kubernetes names are lower case).
- A Pod that is not Ready (or has no IP, or is terminating) is never read from.

Everything here works on plain dicts, the shape the API returns, so the rules are tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redisbackup.api.faults import FaultCode
from redisbackup.api.naming import resolved_identifier
from redisbackup.domain.faults import SourceFault
from redisbackup.domain.plan import SourceKind
from redisbackup.domain.pods import Body, SourcePod, Workload, pods_of, source_pod

REPLICATION_GROUP_LABEL = "redisbackup.io/replication-group"
ALLOW_BACKUPS_FROM_ANNOTATION = "redisbackup.io/allow-backups-from"


class AwaitingSource(SourceFault):
    """Something the snapshot needs is not there yet; it may appear (GitOps), so it is retried until a deadline."""

    transient = True


class SourceNotFound(AwaitingSource):
    code = FaultCode.CACHE_CLUSTER_NOT_FOUND


class SourceNotReady(AwaitingSource):
    code = FaultCode.INVALID_CACHE_CLUSTER_STATE


class SecretNotFound(AwaitingSource):
    code = FaultCode.SECRET_NOT_FOUND


class SourceNotShared(AwaitingSource):
    """spec.sourceNamespace names a namespace that does not let this RedisBackup's namespace back it up."""

    code = FaultCode.SOURCE_NAMESPACE_NOT_SHARED


class SourceAmbiguous(SourceFault):
    """The identifier names more than one node where one is needed; the user must name the node."""

    code = FaultCode.INVALID_PARAMETER_COMBINATION
    transient = False


class SourceBusy(SourceFault):
    """Another snapshot of the same source is running: this one waits its turn (ElastiCache: snapshotting)."""

    code = FaultCode.INVALID_CACHE_CLUSTER_STATE
    transient = True


@dataclass(frozen=True)
class ResolvedSource:
    kind: SourceKind
    source_id: str  # as the user wrote it
    pods: tuple[SourcePod, ...]  # a single node: one; a cluster: every Ready Pod (the seeds)
    workloads: tuple[Workload, ...]  # sorted: locks are always taken in this order
    unready: tuple[SourcePod, ...] = ()  # a cluster's Pods that are not Ready: their nodes are never read
    namespace: str = ""  # where the Pods are (spec.sourceNamespace, else the RedisBackup's namespace)

    def pod_at(self, host: str) -> SourcePod | None:
        return next((pod for pod in self.pods if pod.ip == host), None)


def field_of(kind: SourceKind) -> str:
    return "spec.cacheClusterId" if kind == "cacheCluster" else "spec.replicationGroupId"


# ------------------------------------------------------------------------------------------------ the rules
def single_node(
    source_id: str,
    namespace: str,
    *,
    pod: Body | None,
    statefulset: Body | None,
    statefulset_pods: Sequence[Body] = (),
    spec_port: int | None = None,
) -> ResolvedSource:
    """The one node `cacheClusterId` names: the Pod, or the only Pod of the StatefulSet."""
    name = resolved_identifier(source_id)
    field = "spec.cacheClusterId"
    if pod is not None:
        return _ready_single(source_id, namespace, source_pod(pod, spec_port), f"pod {name}")
    if statefulset is None:
        raise SourceNotFound(
            f'{field} "{source_id}": no Pod or StatefulSet named {name} in namespace {namespace}. Create the Redis '
            "workload, or correct the name (for a primary with replicas, name one node, e.g. mycluster-1); the "
            "operator keeps looking until the source deadline passes",
            field=field,
        )
    owned = pods_of(statefulset, statefulset_pods)
    replicas = (statefulset.get("spec") or {}).get("replicas")
    count = max(len(owned), int(replicas) if isinstance(replicas, int) else 1)
    if count > 1:
        names = [str(p["metadata"]["name"]) for p in owned]
        if len(names) < count:  # pods not created yet: a StatefulSet names them <sts>-<ordinal>
            names = [f"{name}-{i}" for i in range(count)]
        example = names[1]
        raise SourceAmbiguous(
            f'{field} "{source_id}" names StatefulSet {name}, which runs {count} Redis pods: the cluster has '
            f"replicas, so name a node, e.g. {example} (one of {', '.join(names)}). As in ElastiCache, a snapshot "
            "of a cluster with replicas is taken from the node you name; naming a replica keeps the fork off the "
            "primary. Create a new RedisBackup with that cacheClusterId.",
            field=field,
        )
    if not owned:
        raise SourceNotReady(
            f'{field} "{source_id}": StatefulSet {name} has no pod yet; the snapshot waits for pod {name}-0 to be '
            "Ready",
            field=field,
        )
    return _ready_single(source_id, namespace, source_pod(owned[0], spec_port), f"StatefulSet {name}")


def _ready_single(source_id: str, namespace: str, pod: SourcePod, what: str) -> ResolvedSource:
    if not pod.ready:
        raise SourceNotReady(
            f'spec.cacheClusterId "{source_id}": {what} in namespace {namespace} is not Ready ({pod.label}); the '
            "snapshot waits until it is (a snapshot is never read from a pod that is starting or terminating)",
            field="spec.cacheClusterId",
        )
    return ResolvedSource("cacheCluster", source_id, (pod,), (pod.workload,), namespace=namespace)


def replication_group(
    source_id: str,
    namespace: str,
    *,
    statefulset: Body | None,
    pods: Sequence[Body],
    spec_port: int | None = None,
) -> ResolvedSource:
    """The Pods of the Redis Cluster `replicationGroupId` names; only Ready ones are returned (as seeds).

    `pods` are the StatefulSet's Pods when there is a StatefulSet of that name, else the labelled ones.
    """
    name = resolved_identifier(source_id)
    field = "spec.replicationGroupId"
    members = (
        pods_of(statefulset, pods) if statefulset is not None else sorted(pods, key=lambda p: p["metadata"]["name"])
    )
    if not members:
        if statefulset is not None:
            raise SourceNotReady(
                f'{field} "{source_id}": StatefulSet {name} has no pods yet; the snapshot waits for them',
                code=FaultCode.INVALID_REPLICATION_GROUP_STATE,
                field=field,
            )
        raise SourceNotFound(
            f'{field} "{source_id}": no StatefulSet named {name} and no pods labelled '
            f"{REPLICATION_GROUP_LABEL}={name} in namespace {namespace}. Create the Redis Cluster, label its pods, "
            "or correct the name; the operator keeps looking until the source deadline passes",
            code=FaultCode.REPLICATION_GROUP_NOT_FOUND,
            field=field,
        )
    candidates = [source_pod(pod, spec_port) for pod in members]
    ready = tuple(pod for pod in candidates if pod.ready)
    if not ready:
        raise SourceNotReady(
            f'{field} "{source_id}": none of its {len(candidates)} pods is Ready '
            f"({', '.join(p.name for p in candidates)}); the snapshot waits until they are",
            code=FaultCode.INVALID_REPLICATION_GROUP_STATE,
            field=field,
        )
    workloads = tuple(sorted({pod.workload for pod in candidates}))
    unready = tuple(pod for pod in candidates if not pod.ready)
    return ResolvedSource("replicationGroup", source_id, ready, workloads, unready, namespace=namespace)


def check_shared(source_namespace: str, namespace: Body | None, backup_namespace: str) -> None:
    """A RedisBackup may read another namespace's Redis only if that namespace says so (ReferenceGrant-style).

    Without the consent of the source namespace, anyone who may create a RedisBackup could copy any Redis in
    the cluster into a backup of their own and restore it: the operator must not be that deputy.
    """
    if namespace is None:
        raise SourceNotFound(
            f'spec.sourceNamespace "{source_namespace}" does not exist. Create it (or correct the name); the '
            "operator keeps looking until the source deadline passes",
            field="spec.sourceNamespace",
        )
    annotations = (namespace.get("metadata") or {}).get("annotations") or {}
    allowed = {item.strip() for item in str(annotations.get(ALLOW_BACKUPS_FROM_ANNOTATION, "")).split(",")}
    if backup_namespace in allowed or "*" in allowed:
        return
    raise SourceNotShared(
        f'spec.sourceNamespace "{source_namespace}" does not let namespace {backup_namespace} back up its Redis: '
        f"its owner must annotate it, e.g. kubectl annotate namespace {source_namespace} "
        f"{ALLOW_BACKUPS_FROM_ANNOTATION}={backup_namespace} (a comma-separated list of namespaces, or *). The "
        "snapshot waits for that until the source deadline passes",
        field="spec.sourceNamespace",
    )


def cluster_node_named(source: ResolvedSource, namespace: str) -> SourceAmbiguous:
    """The fault for a cacheClusterId that turns out to be a Redis Cluster node (cluster mode enabled)."""
    pod = source.pods[0]
    group = pod.workload.name if pod.workload.kind == "StatefulSet" else "its StatefulSet"
    return SourceAmbiguous(
        f'spec.cacheClusterId "{source.source_id}": {pod.label} in namespace {namespace} is a Redis Cluster node '
        f"(cluster mode enabled), and a snapshot of one shard alone cannot be restored as a cluster. As in "
        f"ElastiCache, back up the whole cluster: create a RedisBackup with spec.replicationGroupId: {group}",
        field="spec.cacheClusterId",
    )


def not_a_cluster(source: ResolvedSource, namespace: str) -> SourceAmbiguous:
    """The fault for a replicationGroupId whose nodes run with cluster mode disabled."""
    return SourceAmbiguous(
        f'spec.replicationGroupId "{source.source_id}" in namespace {namespace} is not a Redis Cluster (its nodes '
        "run with cluster-enabled no). As in ElastiCache, snapshot a non-clustered Redis by naming one node: "
        "create a RedisBackup with spec.cacheClusterId set to a pod, e.g. "
        f"{source.pods[min(1, len(source.pods) - 1)].name}",
        field="spec.replicationGroupId",
    )
