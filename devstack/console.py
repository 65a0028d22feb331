"""The console as `redisbackup serve --console` in a child process, and users who sign in to it.

Used by the pytest fixtures (devstack.fixtures.console) and `make demo`:

    console = start(cluster, log_dir, keys_namespace="redisbackup")    # a RunningConsole: url, ca_file
    token = user_token(cluster, "team-a", "backup-user", BACKUP_RULES)  # a ServiceAccount's token to sign in with

The server is the ElastiCache API's (devstack.elasticache_api), run here as a ServiceAccount without any
cluster-wide right — no impersonation, no TokenReview: the console asks who a token is with the token itself, and
makes every request with the signed-in user's own token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import elasticache_api
from devstack.cluster import Cluster

# What a console user needs to do everything in a namespace: back up (create), delete, copy, verify (patch) and
# see RedisBackups, their Events, and the Redis workloads (watch: the live pages).
BACKUP_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["redisbackup.io"],
        "resources": ["redisbackups"],
        "verbs": ["get", "list", "watch", "create", "delete", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
]
# Someone who may look but not back up: RBAC refuses their create, and the console shows the apiserver's reason.
VIEW_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["redisbackup.io"], "resources": ["redisbackups"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "watch"]},
]


@dataclass
class RunningConsole:
    api: elasticache_api.RunningApi

    @property
    def url(self) -> str:
        return f"{self.api.url}/console/"

    @property
    def ca_file(self) -> Path:
        return self.api.ca_file

    def stop(self) -> None:
        self.api.stop()

    def log_tail(self, lines: int = 60) -> str:
        return self.api.log_tail(lines)


def start(
    kube: Cluster,
    log_dir: Path,
    *,
    keys_namespace: str,
    default_namespace: str = "default",
    args: Sequence[str] = (),
    token_seconds: int = 3600,
) -> RunningConsole:
    server_args = ["--console", "--console-namespace", default_namespace, *args]
    api = elasticache_api.start(
        kube,
        log_dir,
        keys_namespace=keys_namespace,
        args=server_args,
        token_seconds=token_seconds,
        cluster_rights=False,
    )
    return RunningConsole(api)


def user_token(
    kube: Cluster,
    namespace: str,
    account: str,
    rules: Sequence[Mapping[str, Any]],
    *,
    seconds: int = 3600,
) -> str:
    """A token of ServiceAccount `namespace/account`, which may do `rules` in `namespace` (and nothing else)."""
    elasticache_api.grant(kube, namespace, account, rules)
    return kube.service_account_token(namespace, account, seconds=seconds)
