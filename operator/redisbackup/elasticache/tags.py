"""ListTagsForResource, AddTagsToResource and RemoveTagsFromResource on ARNs.

Where the tags live:
- a snapshot's are its RedisBackup's `spec.tags` (the one spec field besides deletionPolicy and verify that may
  change: `redisbackup.api.spec.MUTABLE_SPEC_FIELDS`, enforced by the CRD's CEL rule and the webhook alike), and
  the stored manifest keeps the tags the snapshot had when it was taken;
- a cache cluster's or replication group's are JSON in the `redisbackup.io/tags` annotation of the Pod or
  StatefulSet the id names (`redisbackup.domain.cache_clusters`): the workload is the user's, so an annotation, not
  a field of ours, and written with the caller's own `patch` right on it.
The rules of a tag set are `redisbackup.api.validation.check_tags` for both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.api.validation import check_tags
from redisbackup.domain.cache_clusters import TAGS_ANNOTATION, tags_of
from redisbackup.domain.faults import ValidationFault
from redisbackup.elasticache.arns import Arn, InvalidArn
from redisbackup.elasticache.caller import Caller
from redisbackup.elasticache.workloads import CacheClusterNotFound, ReplicationGroupNotFound, redis_workloads
from redisbackup.k8s import api, redisbackups, workloads
from redisbackup.k8s.workloads import Kind


class TagNotFound(ValidationFault):
    code = FaultCode.TAG_NOT_FOUND


@dataclass(frozen=True)
class Tagged:
    """The object that keeps a resource's tags, and the tags it has now."""

    kind: Kind | None  # None: a RedisBackup (spec.tags)
    name: str
    resource_version: str
    tags: dict[str, str]


def _arn(caller: Caller, resource_name: str) -> Arn:
    arn = Arn.parse(resource_name)
    if caller.region is not None and arn.region != caller.region:
        raise InvalidArn(
            f"ARN {resource_name} is in region {arn.region}; this endpoint serves region {caller.region}",
            field="ResourceName",
        )
    if arn.namespace != caller.namespace:
        raise InvalidArn(
            f"ARN {resource_name} names namespace {arn.namespace} (its account field); these credentials work in "
            f"namespace {caller.namespace}",
            field="ResourceName",
        )
    return arn


async def _find(caller: Caller, arn: Arn) -> Tagged:
    if arn.kind == "snapshot":
        body = await api.in_thread(redisbackups.find_backup, caller.namespace, arn.name, caller.client)
        tags = (body.get("spec") or {}).get("tags") or {}
        return Tagged(None, body["metadata"]["name"], body["metadata"]["resourceVersion"], dict(tags))
    redis = await redis_workloads(caller)
    holder: Mapping[str, Any] | None = None
    kind: Kind = "StatefulSet"
    if arn.kind == "cluster":
        found = [(cid, pod) for cid, pod, _ in redis.cache_clusters() if cid == arn.name]
        if not found:
            raise CacheClusterNotFound(f"CacheCluster not found: {arn.name}", field="ResourceName")
        cluster_id, pod = found[0]
        if cluster_id == pod["metadata"]["name"]:
            holder, kind = pod, "Pod"
        else:
            holder = next(sts for sts in redis.statefulsets if sts["metadata"]["name"] == cluster_id)
    else:
        group = redis.group(arn.name)
        if group is None:
            raise ReplicationGroupNotFound(f"Replication group {arn.name} not found", field="ResourceName")
        if group[0] is None:
            raise ValidationFault(
                f"Replication group {arn.name} is a set of labelled Pods, which has no one object to keep tags on: "
                "tag a StatefulSet-run group, or its member cache clusters",
                field="ResourceName",
            )
        holder = group[0]
    metadata = holder["metadata"]
    return Tagged(kind, metadata["name"], metadata["resourceVersion"], tags_of(holder))


def _tag_list(tags: Mapping[str, str]) -> dict[str, Any]:
    return {"TagList": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}


def _check(tags: Mapping[str, str], arn: Arn) -> None:
    for violation in check_tags(tags, field=f"tags of {arn.kind} {arn.name}"):
        raise ValidationFault(violation.message, code=violation.code, field="Tags")


async def _write(caller: Caller, tagged: Tagged, changes: dict[str, str | None]) -> dict[str, str]:
    wanted = {key: value for key, value in {**tagged.tags, **changes}.items() if value is not None}
    if tagged.kind is None:
        patch = {"metadata": {"resourceVersion": tagged.resource_version}, "spec": {"tags": changes}}
        await api.in_thread(redisbackups.patch_backup, caller.namespace, tagged.name, patch, caller.client)
    else:
        await api.in_thread(
            _annotate, caller, tagged, json.dumps(wanted, sort_keys=True, ensure_ascii=False) if wanted else None
        )
    return wanted


def _annotate(caller: Caller, tagged: Tagged, value: str | None) -> None:
    assert tagged.kind is not None
    workloads.annotate(
        tagged.kind,
        caller.namespace,
        tagged.name,
        {TAGS_ANNOTATION: value},
        resource_version=tagged.resource_version,
        client=caller.client,
    )


async def list_tags(caller: Caller, resource_name: str) -> dict[str, Any]:
    """`{"TagList": [{"Key": …, "Value": …}, …]}` of the resource the ARN names."""
    return _tag_list((await _find(caller, _arn(caller, resource_name))).tags)


def pairs(tags: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """ElastiCache's [{"Key": …, "Value": …}] as a mapping (a later duplicate key wins, as in ElastiCache)."""
    found: dict[str, str] = {}
    for tag in tags:
        key = tag.get("Key")
        if not isinstance(key, str) or not key:
            raise ValidationFault("Every tag needs a Key (Key=NAME,Value=VALUE)", field="Tags")
        found[key] = str(tag.get("Value") or "")
    return found


async def add_tags(caller: Caller, resource_name: str, tags: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Add or overwrite tags; the resource's whole TagList after the change."""
    arn = _arn(caller, resource_name)
    added = pairs(tags)
    tagged = await _find(caller, arn)
    _check({**tagged.tags, **added}, arn)
    return _tag_list(await _write(caller, tagged, dict(added)))


async def remove_tags(caller: Caller, resource_name: str, keys: Sequence[str]) -> dict[str, Any]:
    """Remove tags by key (TagNotFound for a key the resource does not have); the TagList after the change."""
    arn = _arn(caller, resource_name)
    tagged = await _find(caller, arn)
    missing = [key for key in keys if key not in tagged.tags]
    if missing:
        raise TagNotFound(f"Tag {missing[0]!r} is not on {arn.kind} {arn.name}", field="TagKeys")
    return _tag_list(await _write(caller, tagged, dict.fromkeys(keys)))
