"""The invariants checked after every fault scenario, by re-reading what the API and the bucket hold.

- A RedisBackup is `available` only if every node's object exists and its size, CRC-64 (the RDB trailer, and
  recomputed over the data) and SHA-256 match both the manifest and the status.
- A failed RedisBackup carries a typed reason (one of our FaultCodes).
- A RedisBackup being deleted whose finalizer is still there says why in a DeletionBlocked condition.
- Nothing in the bucket belongs to no RedisBackup (orphans), and no multipart upload is left unfinished.
- One RedisBackup has one snapshot: no objects under its directory but its manifest's (duplicates: what another
  attempt left).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anycrc
from kubernetes import client

from devstack.fixtures.s3 import S3Bucket
from redisbackup.api.faults import FaultCode
from redisbackup.domain.manifest import Manifest
from tests.e2e.operator_support import GROUP, PLURAL, VERSION

FINALIZER = "redisbackup.io/data"
TYPED_REASONS = {code.value for code in FaultCode}
CRC64 = anycrc.Model("CRC64-REDIS")


@dataclass
class Audit:
    available_ok: list[str] = field(default_factory=list)
    failed_typed: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return json.dumps(
            {k: v for k, v in vars(self).items() if v and k not in ("available_ok", "failed_typed")}, indent=1
        )


def list_backups(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    listing: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return list(listing.get("items", []))


def _conditions(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (body.get("status") or {}).get("conditions") or []}


def check_object(bucket: S3Bucket, key: str, node: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """Problems with one stored node object: re-read it and recompute size, CRC-64 and SHA-256."""
    try:
        data = bucket.client().get_object(Bucket=bucket.bucket, Key=key)["Body"].read()
    except Exception as error:  # any failure to read it back is the finding
        return [f"{key}: cannot be read back: {error}"]
    problems = []
    crc = f"{CRC64.calc(data[:-8]):016x}"
    facts = {"cacheSize": str(len(data)), "sha256": hashlib.sha256(data).hexdigest(), "crc64": crc}
    for name, actual in facts.items():
        for where, expected in (("status", node.get(name)), ("manifest", recorded.get(name))):
            if expected != actual:
                problems.append(f"{key}: {name} is {actual} but the {where} says {expected}")
    if data[-8:][::-1].hex() != crc:
        problems.append(f"{key}: the RDB's CRC-64 trailer {data[-8:][::-1].hex()} does not match its data ({crc})")
    return problems


def _check_available(bucket: S3Bucket, body: dict[str, Any], audit: Audit) -> set[str]:
    """Check one available RedisBackup; return the keys it owns."""
    meta, status = body["metadata"], body["status"]
    where = f"{meta['namespace']}/{meta['name']}"
    directory = f"{meta['namespace']}/{body['spec']['snapshotName']}/{meta['uid']}/"
    manifest_key = directory + "manifest.json"
    try:
        raw = bucket.client().get_object(Bucket=bucket.bucket, Key=manifest_key)["Body"].read()
        manifest = json.loads(Manifest.from_json(raw).to_json())
    except Exception as error:
        audit.defects.append(f"{where} is available but its manifest {manifest_key} cannot be read: {error}")
        return set()
    recorded = {n["objectKey"]: n for n in manifest["nodeSnapshots"]}
    nodes = status.get("nodeSnapshots") or []
    problems = [] if nodes else [f"{where} is available with no nodeSnapshots"]
    if {n.get("objectKey") for n in nodes} != set(recorded):
        problems.append(f"{where}: status objects {[n.get('objectKey') for n in nodes]} != manifest {list(recorded)}")
    for node in nodes:
        problems += check_object(bucket, node["objectKey"], node, recorded.get(node["objectKey"], {}))
    if problems:
        audit.defects += problems
    else:
        audit.available_ok.append(where)
    return {manifest_key, *recorded}


def audit(api: client.ApiClient, bucket: S3Bucket, namespaces: Iterable[str], *, retained: Iterable[str] = ()) -> Audit:
    """Check every invariant over the RedisBackups of `namespaces` and the whole bucket.

    `retained`: key prefixes a test kept on purpose (deletionPolicy Retain), not counted as orphans.
    """
    result = Audit()
    owned: set[str] = set()
    for namespace in namespaces:
        for body in list_backups(api, namespace):
            meta = body["metadata"]
            where = f"{namespace}/{meta['name']}"
            phase = (body.get("status") or {}).get("phase")
            conditions = _conditions(body)
            if meta.get("deletionTimestamp") and FINALIZER in (meta.get("finalizers") or []):
                blocked = conditions.get("DeletionBlocked")
                if not blocked or blocked.get("status") != "True" or not blocked.get("message"):
                    result.defects.append(f"{where}: finalizer stuck without a DeletionBlocked condition saying why")
                else:
                    result.stuck.append(f"{where}: deletion blocked: {blocked['message']}")
                continue
            if phase == "available":
                owned |= _check_available(bucket, body, result)
            elif phase == "failed":
                reason = (conditions.get("Failed") or {}).get("reason")
                result.reasons[str(reason)] = result.reasons.get(str(reason), 0) + 1
                if reason in TYPED_REASONS and (conditions.get("Failed") or {}).get("message"):
                    result.failed_typed.append(where)
                else:
                    result.defects.append(f"{where} failed without a typed reason: {conditions.get('Failed')}")
            else:
                result.stuck.append(f"{where} is still {phase or 'without a phase'}")
    kept = tuple(retained)
    # An available snapshot's directory is <ns>/<name>/<uid>/ (its manifest's); its RDBs lie under an attempt below.
    available_directories = tuple(key.rsplit("/", 1)[0] + "/" for key in owned if key.endswith("/manifest.json"))
    for key in bucket.keys(""):
        if key in owned or key.startswith(kept):
            continue
        if key.startswith(available_directories):
            result.duplicates.append(key)  # beside an available snapshot's own objects: another attempt's
        else:
            result.orphans.append(key)  # belongs to no available RedisBackup
    result.orphans += [f"unfinished upload {key}" for key in bucket.uploads() if not key.startswith(kept)]
    return result
