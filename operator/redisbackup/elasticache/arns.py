"""ElastiCache ARNs of snapshots, cache clusters and replication groups, with the namespace as the account.

    arn:aws:elasticache:<region>:<namespace>:snapshot:<snapshot name>
    arn:aws:elasticache:<region>:<namespace>:cluster:<cache cluster id>
    arn:aws:elasticache:<region>:<namespace>:replicationgroup:<replication group id>

An AWS account is the boundary that owns resources and whose keys reach them; on Kubernetes that is the namespace,
so the ARN's account field names it (SDKs treat the field as an opaque string). An ARN thus names one object
unambiguously across the cluster, and says which namespace a tag operation acts in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import ValidationFault

ResourceKind = Literal["snapshot", "cluster", "replicationgroup"]
KINDS: tuple[str, ...] = get_args(ResourceKind)
PARTITION = "aws"
SERVICE = "elasticache"


class InvalidArn(ValidationFault):
    code = FaultCode.INVALID_ARN


@dataclass(frozen=True)
class Arn:
    region: str
    namespace: str
    kind: ResourceKind
    name: str

    def __str__(self) -> str:
        return f"arn:{PARTITION}:{SERVICE}:{self.region}:{self.namespace}:{self.kind}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 6)
        if len(parts) != 7 or parts[0] != "arn" or parts[2] != SERVICE or not all(parts[3:]):
            raise InvalidArn(
                f"{text!r} is not an ElastiCache ARN: write arn:aws:elasticache:REGION:NAMESPACE:KIND:NAME with KIND "
                f"one of {', '.join(KINDS)}",
                field="ResourceName",
            )
        _, _, _, region, namespace, kind, name = parts
        if kind not in KINDS:
            raise InvalidArn(
                f"ARN {text!r} names a {kind}: tags are kept on {', '.join(KINDS)} resources only",
                field="ResourceName",
            )
        return cls(region, namespace, kind, name)  # type: ignore[arg-type]  # checked against KINDS above
