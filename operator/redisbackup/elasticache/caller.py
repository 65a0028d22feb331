"""Who calls an operation, and where: the identity every Kubernetes request of the operation is made as."""

from __future__ import annotations

from dataclasses import dataclass

from redisbackup.elasticache.arns import Arn, ResourceKind
from redisbackup.k8s.api import Client


@dataclass(frozen=True)
class Caller:
    """A Kubernetes API client made for the caller, and the namespace its snapshots and Redis workloads are in.

    `client` carries the caller's identity — the CLI's kubeconfig, an impersonated ServiceAccount or user, a
    user's own token — and is never the server's own: every request the operation makes is authorized by the
    apiserver for the caller. `region` names resources by ARN (the ElastiCache API and the console); the CLI has
    no region and shows none.
    """

    client: Client
    namespace: str
    identity: str = ""
    """Who the client authenticates as, for messages and logs (e.g. system:serviceaccount:team-a:backup)."""
    region: str | None = None

    def arn(self, kind: ResourceKind, name: str) -> str | None:
        if self.region is None:
            return None
        return str(Arn(self.region, self.namespace, kind, name))
