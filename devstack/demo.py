"""`make demo`: the local stack plus Redis workloads and the operator, then the samples of manifests/samples/.

The supervisor (devstack.supervisor --demo) starts the services below as its children, so they live until
`make demo-down`; `tour` then applies the samples, waits for them and shows what users see:

    namespace demo
      StatefulSet mynonclusteredredis   1 pod   one redis-server            ← backup-single-node.yaml
      StatefulSet myreplicatedredis     3 pods  primary + 2 replicas        ← backup-replica-node.yaml
      StatefulSet myclusteredredis      6 pods  Redis Cluster, 3 shards x 2 ← backup-cluster.yaml
    the operator: `redisbackup operator --config .devstack/operator.yaml` (S3 bucket `redisbackup` by default)
    the ElastiCache API: `redisbackup serve` (devstack.elasticache_api), with a key that is the S3 credentials
    the console: the same server at /console/, and the token of ServiceAccount demo/console-user, who may back up
    in namespace demo (devstack.console.BACKUP_RULES)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.console import BACKUP_RULES, user_token
from devstack.elasticache_api import RunningApi, start_for_demo
from devstack.mirror import Mirror
from devstack.operator import REPO, RunningOperator, Storage, install_crd, start
from devstack.processes import Process
from devstack.s3 import S3Server

NAMESPACE = "demo"
SAMPLES = REPO / "manifests" / "samples"
# ElastiCache's examples 1, 2 and 3, in that order.
SAMPLE_FILES = ("backup-single-node.yaml", "backup-replica-node.yaml", "backup-cluster.yaml")
WORKLOADS = ("myNonClusteredRedis", "myReplicatedRedis", "myClusteredRedis")
CONSOLE_ACCOUNT = "console-user"


@dataclass
class DemoServices:
    processes: list[Process]
    operator: RunningOperator
    elasticache_api: RunningApi
    console_token: str = ""

    def state(self) -> dict[str, Any]:
        return {
            "namespace": NAMESPACE,
            "operator_config": str(self.operator.config_path),
            "operator_log": str(self.operator.process.log_path),
            "metrics": f"http://127.0.0.1:{self.operator.metrics_port}/metrics",
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


def demo_storage(directory: Path, s3: S3Server, bucket: str) -> Storage:
    """Two locations, as an administrator would configure them: S3 (the default) and a local directory."""
    config = {
        "defaultLocation": "s3",
        "locations": {
            "s3": {
                "s3": {
                    "bucket": bucket,
                    "prefix": "snapshots",
                    "endpoint": s3.endpoint_url,
                    "region": s3.region,
                    "addressingStyle": "path",
                }
            },
            "embedded": {"file": {"path": str(directory / "snapshots")}},
        },
    }
    return Storage(config, {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})


def start_services(directory: Path, kubeconfig: Path, s3: S3Server, bucket: str) -> DemoServices:
    """Redis workloads mirrored into namespace `demo`, the CRD, and the operator serving that namespace."""
    base = directory / "redis"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    cluster = Cluster(kubeconfig)
    # Redis's own default delay before a diskless snapshot (the test stack sets 0): as on a stock server, the node
    # shows `snapshotting` for a few seconds in the console — the seed's path, seen by whoever follows it.
    single = redis_nodes.standalone(base, "single", extra={"repl-diskless-sync-delay": "5"})
    replicated = redis_nodes.replicated(base, "replicated", replicas=2)
    sharded = redis_nodes.cluster(base, "sharded", shards=3, replicas=1)
    topologies = (single, replicated, sharded)
    with single.primary.client() as c:
        redis_nodes.fill_mixed(c, prefix="orders", count=400)
    with replicated.primary.client() as c:
        redis_nodes.fill_mixed(c, prefix="sessions", count=800)
    with sharded.cluster_client() as c:
        redis_nodes.fill_mixed(c, prefix="catalog", count=1200)
    redis_nodes.wait_replicas_in_sync(replicated)
    redis_nodes.wait_cluster_gossip(sharded)

    if NAMESPACE not in cluster.kubectl("get", "namespaces", "-o", "name").stdout.split():
        cluster.kubectl("create", "namespace", NAMESPACE)
    with cluster.api_client() as api:
        mirror = Mirror(api)
        for topology, name in zip(topologies, WORKLOADS, strict=True):
            mirror.statefulset(topology, NAMESPACE, name.lower())
    install_crd(cluster)
    operator = start(
        cluster,
        directory / "logs",
        namespaces=[NAMESPACE],
        storage=demo_storage(directory, s3, bucket),
        configuration="redisbackup-demo",
        test_limits=False,
    )
    api, _ = start_for_demo(
        cluster,
        directory / "logs",
        namespace=NAMESPACE,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
        region=s3.region,
        args=[
            "--console",
            "--console-namespace",
            NAMESPACE,
            "--console-location",
            "s3",
            "--console-location",
            "embedded",
        ],
    )
    token = user_token(cluster, NAMESPACE, CONSOLE_ACCOUNT, BACKUP_RULES, seconds=30 * 24 * 3600)
    nodes = [node.process for topology in topologies for node in topology.nodes]
    return DemoServices([*nodes, operator.process, api.process], operator, api, token)


# ----------------------------------------------------------------------------------------------------- the tour
def _kubectl(kubeconfig: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return Cluster(Path(kubeconfig)).kubectl(*args, check=check)


def _backup(kubeconfig: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_kubectl(kubeconfig, "get", "rb", name, "-n", NAMESPACE, "-o", "json").stdout)
    return body


def tour(state: dict[str, Any], timeout: float = 180.0) -> int:
    """Apply the samples, wait until they are available, and show them as kubectl and ElastiCache do."""
    from redisbackup.domain.elasticache import snapshot_document_from_body

    kubeconfig = state["kubeconfig"]
    samples = [SAMPLES / name for name in SAMPLE_FILES]
    names = [yaml.safe_load(path.read_text())["metadata"]["name"] for path in samples]
    print(f"\n$ kubectl apply -n {NAMESPACE} -f manifests/samples/")
    files = [arg for path in samples for arg in ("-f", str(path))]
    print(_kubectl(kubeconfig, "apply", "-n", NAMESPACE, *files).stdout.rstrip())
    print(f"\nwaiting for {', '.join(names)} to become available …", flush=True)
    deadline = time.monotonic() + timeout
    phases: dict[str, str] = {}
    while time.monotonic() < deadline:
        phases = {name: (_backup(kubeconfig, name).get("status") or {}).get("phase", "") for name in names}
        if all(phase in ("available", "failed") for phase in phases.values()):
            break
        time.sleep(0.5)
    print(f"\n$ kubectl get rb -n {NAMESPACE}")
    print(_kubectl(kubeconfig, "get", "rb", "-n", NAMESPACE).stdout.rstrip())
    for name in names:
        body = _backup(kubeconfig, name)
        print(f"\n# {name} as `aws elasticache describe-snapshots` would print it")
        print(json.dumps(snapshot_document_from_body(body), indent=4))
    stuck = {name: phase for name, phase in phases.items() if phase != "available"}
    if stuck:
        print(f"\nnot available: {stuck}; see `kubectl describe rb -n {NAMESPACE}` and {state['demo']['operator_log']}")
        return 1
    _print_next_steps(state)
    return 0


def _print_next_steps(state: dict[str, Any]) -> None:
    demo = state["demo"]
    print(
        "\nEverything keeps running in the background. Try:\n"
        f"  source {state['env_file']}\n"
        f"  kubectl describe rb -n {NAMESPACE} bkup-20150515        # conditions and Events\n"
        f"  kubectl apply -n {NAMESPACE} -f manifests/samples/schedule-every-minute.yaml   # automatic backups\n"
        f"  kubectl get rbs,rb -n {NAMESPACE} -o wide               # a new one each minute, the newest two kept\n"
        "  aws elasticache describe-snapshots --snapshot-source system   # only the automated ones\n"
        f"  kubectl get rb -n {NAMESPACE} -o wide                   # where each snapshot is stored\n"
        f"  kubectl delete statefulset -n {NAMESPACE} mynonclusteredredis   # the backup stays available\n"
        f"  kubectl delete rb -n {NAMESPACE} bkup-20150515          # deletionPolicy Delete removes its data\n"
        f"  curl -s {demo['metrics']} | grep ^redisbackup_\n"
        "  aws elasticache describe-cache-clusters --show-cache-node-info   # the Redis nodes, as ElastiCache does\n"
        "  aws elasticache create-snapshot --cache-cluster-id myNonClusteredRedis --snapshot-name my-first\n"
        "  aws elasticache describe-snapshots --query 'Snapshots[].[SnapshotName,SnapshotStatus]' --output table\n"
        "  aws elasticache copy-snapshot --source-snapshot-name my-first --target-snapshot-name my-copy\n"
        "  aws elasticache delete-snapshot --snapshot-name my-copy\n"
        f"  operator configuration: {demo['operator_config']}\n"
        f"  operator log:           {demo['operator_log']}\n"
        f"  ElastiCache API:        {demo.get('elasticache_endpoint')} (log {demo.get('elasticache_log')})\n"
        "The console (its certificate is the server's own CA, $AWS_CA_BUNDLE): open the URL, sign in with the token\n"
        f"  REDISBACKUP_CONSOLE_URL={demo.get('console_url')}\n"
        f"  REDISBACKUP_CONSOLE_TOKEN={demo.get('console_token')}\n"
        "Stop everything with `make demo-down`."
    )
