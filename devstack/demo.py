"""`make demo`: the local stack with a real node, the operator installed by its Helm chart, Redis workloads as
real StatefulSets, then the backup samples of manifests/samples/.

The supervisor (devstack.supervisor --demo) starts the stack and calls `start_services`; `tour` then applies the
samples, waits for them and shows what users see:

    namespace demo (manifests/samples/redis/)
      StatefulSet mynonclusteredredis   1 pod   one redis-server            ← backup-single-node.yaml
      StatefulSet myreplicatedredis     3 pods  primary + 2 replicas        ← backup-replica-node.yaml
      StatefulSet myclusteredredis      6 pods  Redis Cluster, 3 shards x 2 ← backup-cluster.yaml
    namespace redisbackup-system: `helm install redisbackup charts/redisbackup` (default values but the image, the
      one `make images` built from this tree), the operator a Pod of its Deployment
    the ElastiCache API: `redisbackup serve` (devstack.elasticache_api), with a key that is the S3 credentials
    the console: the same server at /console/, and the token of ServiceAccount demo/console-user, who may back up
    in namespace demo (devstack.console.BACKUP_RULES)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.cluster
import yaml

from devstack import images, redis_nodes
from devstack.cluster import Cluster
from devstack.console import BACKUP_RULES, user_token
from devstack.elasticache_api import RunningApi, start_for_demo
from devstack.node import RealCluster
from devstack.operator import REPO
from devstack.processes import Process
from devstack.s3 import S3Server

NAMESPACE = "demo"
OPERATOR_NAMESPACE = "redisbackup-system"
RELEASE = "redisbackup"
SAMPLES = REPO / "manifests" / "samples"
WORKLOADS = SAMPLES / "redis"
# ElastiCache's examples 1, 2 and 3, in that order.
SAMPLE_FILES = ("backup-single-node.yaml", "backup-replica-node.yaml", "backup-cluster.yaml")
OPERATOR_SELECTOR = "app.kubernetes.io/name=redisbackup,app.kubernetes.io/component=operator"
CONSOLE_ACCOUNT = "console-user"


@dataclass
class DemoServices:
    namespace: str
    operator_namespace: str
    elasticache_api: RunningApi
    console_token: str = ""

    @property
    def processes(self) -> list[Process]:
        """What runs on this machine beside the node (the operator and Redis run in the node's Pods)."""
        return [self.elasticache_api.process]

    def state(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "operator_namespace": self.operator_namespace,
            "release": RELEASE,
            "image": images.OPERATOR.reference,
            "elasticache_endpoint": self.elasticache_api.url,
            "elasticache_ca": str(self.elasticache_api.ca_file),
            "elasticache_log": str(self.elasticache_api.process.log_path),
            "console_url": self.console_url,
            "console_token": self.console_token,
        }

    @property
    def console_url(self) -> str:
        return f"{self.elasticache_api.url}/console/"

    def env(self) -> dict[str, str]:
        """What `.devstack/env` adds for `aws elasticache` (the credentials are the S3 ones, already there)."""
        return {
            "AWS_ENDPOINT_URL_ELASTICACHE": self.elasticache_api.url,
            "AWS_CA_BUNDLE": str(self.elasticache_api.ca_file),
            # The console, and a token to sign in with: a user who may back up in namespace demo.
            "REDISBACKUP_CONSOLE_URL": self.console_url,
            "REDISBACKUP_CONSOLE_TOKEN": self.console_token,
        }


def start_services(cluster: RealCluster, s3: S3Server) -> DemoServices:
    """The sample Redis workloads (filled with data), the operator's Helm release and the ElastiCache API (a key
    that is the S3 credentials); returns once all run."""
    kube = Cluster(cluster.kubeconfig)
    kube.kubectl("create", "namespace", NAMESPACE)
    kube.kubectl("apply", "-n", NAMESPACE, "-f", str(WORKLOADS))
    kube.rollout(
        NAMESPACE,
        "statefulset/mynonclusteredredis",
        "statefulset/myreplicatedredis",
        "statefulset/myclusteredredis",
        "job/myclusteredredis-create",
    )
    fill(kube)
    repository, tag = images.OPERATOR.reference.rsplit(":", 1)
    kube.helm(
        "install",
        RELEASE,
        str(REPO / "charts" / "redisbackup"),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--set",
        f"image.repository={repository}",
        "--set",
        f"image.tag={tag}",
        "--wait",
        "--timeout=5m",
    )
    api, _ = start_for_demo(
        kube,
        cluster.workdir / "logs",
        namespace=NAMESPACE,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
        region=s3.region,
        args=[
            "--console",
            "--console-namespace",
            NAMESPACE,
            "--console-location",
            "embedded",  # the chart's default (and only) storage location
        ],
    )
    token = user_token(kube, NAMESPACE, CONSOLE_ACCOUNT, BACKUP_RULES, seconds=30 * 24 * 3600)
    return DemoServices(NAMESPACE, OPERATOR_NAMESPACE, api, token)


def fill(kube: Cluster) -> None:
    """Data in each workload, written from this machine to the Pods' addresses (the node's Pod network is routed)."""
    single = kube.pod_ips(NAMESPACE, "app.kubernetes.io/name=mynonclusteredredis")["mynonclusteredredis-0"]
    with redis.Redis(host=single, port=6379) as client:
        redis_nodes.fill_mixed(client, prefix="orders", count=400)
    replicated = kube.pod_ips(NAMESPACE, "app.kubernetes.io/name=myreplicatedredis")
    with redis.Redis(host=replicated["myreplicatedredis-0"], port=6379) as client:
        redis_nodes.fill_mixed(client, prefix="sessions", count=800)
        client.execute_command("WAIT", 2, 10000)  # both replicas have it before the replica is backed up
    clustered = kube.pod_ips(NAMESPACE, "app.kubernetes.io/name=myclusteredredis")
    with redis.cluster.RedisCluster(host=clustered["myclusteredredis-0"], port=6379) as client:
        redis_nodes.fill_mixed(client, prefix="catalog", count=1200)


# ----------------------------------------------------------------------------------------------------- the tour
def _kubectl(kubeconfig: str, *args: str, check: bool = True) -> str:
    return Cluster(Path(kubeconfig)).kubectl(*args, check=check).stdout.rstrip()


def _backup(kubeconfig: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_kubectl(kubeconfig, "get", "rb", name, "-n", NAMESPACE, "-o", "json"))
    return body


def tour(state: dict[str, Any], timeout: float = 300.0) -> int:
    """Apply the samples, wait until they are available, and show them as kubectl and ElastiCache do."""
    from redisbackup.domain.elasticache import snapshot_document_from_body

    kubeconfig = state["kubeconfig"]
    samples = [SAMPLES / name for name in SAMPLE_FILES]
    names = [yaml.safe_load(path.read_text())["metadata"]["name"] for path in samples]
    print(f"\n$ kubectl apply -n {NAMESPACE} -f manifests/samples/")
    files = [arg for path in samples for arg in ("-f", str(path))]
    print(_kubectl(kubeconfig, "apply", "-n", NAMESPACE, *files))
    print(f"\nwaiting for {', '.join(names)} to become available …", flush=True)
    deadline = time.monotonic() + timeout
    phases: dict[str, str] = {}
    while time.monotonic() < deadline:
        phases = {name: (_backup(kubeconfig, name).get("status") or {}).get("phase", "") for name in names}
        if all(phase in ("available", "failed") for phase in phases.values()):
            break
        time.sleep(1)
    print("\n$ kubectl get nodes -o wide")
    print(_kubectl(kubeconfig, "get", "nodes", "-o", "wide"))
    print("\n$ kubectl get pods -A -o wide")
    print(_kubectl(kubeconfig, "get", "pods", "-A", "-o", "wide"))
    print("\n# the containers' processes on this machine: each in a mount namespace of its own (not the host's)")
    print(processes_table(state))
    print(f"\n$ kubectl get rb -n {NAMESPACE}")
    print(_kubectl(kubeconfig, "get", "rb", "-n", NAMESPACE))
    for name in names:
        body = _backup(kubeconfig, name)
        print(f"\n# {name} as `aws elasticache describe-snapshots` would print it")
        print(json.dumps(snapshot_document_from_body(body), indent=4))
    stuck = {name: phase for name, phase in phases.items() if phase != "available"}
    if stuck:
        print(f"\nnot available: {stuck}; see `kubectl describe rb -n {NAMESPACE}` and the operator's log:")
        print(_kubectl(kubeconfig, "logs", "-n", OPERATOR_NAMESPACE, "-l", OPERATOR_SELECTOR, "--tail=40", check=False))
        return 1
    _print_next_steps(state)
    return 0


def processes_table(state: dict[str, Any]) -> str:
    """POD, CONTAINER, PID, UID, MOUNT NAMESPACE of every running container, from the node's cgroups."""
    from devstack.node.inspect import container_processes

    rows = [("NAMESPACE", "POD", "CONTAINER", "PID", "UID", "MNT-NS", "COMMAND")]
    found = container_processes(Path(state["kubeconfig"]), state["node"]["cgroup"])
    for process in sorted(found, key=lambda p: (p.namespace, p.pod, p.container)):
        rows.append(
            (
                process.namespace,
                process.pod,
                process.container,
                str(process.pid),
                str(process.uid),
                process.mount_namespace + ("" if process.own_mount_namespace else " (host's!)"),
                process.command[:60],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def _print_next_steps(state: dict[str, Any]) -> None:
    demo = state.get("demo") or {}
    print(
        "\nEverything keeps running in the background. Try:\n"
        f"  source {state['env_file']}\n"
        f"  kubectl describe rb -n {NAMESPACE} bkup-20150515        # conditions and Events\n"
        f"  kubectl apply -n {NAMESPACE} -f manifests/samples/schedule-every-minute.yaml   # automatic backups\n"
        f"  kubectl get rbs,rb -n {NAMESPACE} -o wide               # a new one each minute, the newest two kept\n"
        "  aws elasticache describe-snapshots --snapshot-source system   # only the automated ones\n"
        f"  kubectl get rb -n {NAMESPACE} -o wide                   # where each snapshot is stored\n"
        f"  kubectl logs -n {OPERATOR_NAMESPACE} deploy/{RELEASE}   # the operator\n"
        f"  kubectl delete statefulset -n {NAMESPACE} mynonclusteredredis   # the backup stays available\n"
        f"  kubectl delete rb -n {NAMESPACE} bkup-20150515          # deletionPolicy Delete removes its data\n"
        f"  kubectl exec -n {NAMESPACE} mynonclusteredredis-0 -- redis-cli dbsize\n"
        "  aws elasticache describe-cache-clusters --show-cache-node-info   # the Redis nodes, as ElastiCache does\n"
        "  aws elasticache create-snapshot --cache-cluster-id myNonClusteredRedis --snapshot-name my-first\n"
        "  aws elasticache describe-snapshots --query 'Snapshots[].[SnapshotName,SnapshotStatus]' --output table\n"
        "  aws elasticache copy-snapshot --source-snapshot-name my-first --target-snapshot-name my-copy\n"
        "  aws elasticache delete-snapshot --snapshot-name my-copy\n"
        f"  ElastiCache API:        {demo.get('elasticache_endpoint')} (log {demo.get('elasticache_log')})\n"
        "The console (its certificate is the server's own CA, $AWS_CA_BUNDLE): open the URL, sign in with the token\n"
        f"  REDISBACKUP_CONSOLE_URL={demo.get('console_url')}\n"
        f"  REDISBACKUP_CONSOLE_TOKEN={demo.get('console_token')}\n"
        "Stop everything with `make demo-down`."
    )
