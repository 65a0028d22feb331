"""Stored objects damaged after the snapshot was committed (bit rot, a truncated copy, a lost object, a manifest
overwritten): every kind is caught by `redisbackup verify` (recorded in the RedisBackup's status) and refused by
`redisbackup restore`, which writes nothing; deleting the damaged backups still removes every object."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import anycrc
import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator, StartOperator, s3_storage
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, delete, get, wait_for, wait_gone
from tests.e2e.restore_support import redisbackup
from tests.fault.audit import TYPED_REASONS, audit
from tests.fault.support import assert_clean, condition_of, create, fill, wait_settled
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e
SEED = int(os.environ.get("REDISBACKUP_FAULT_SEED", "20251109"))
CRC64 = anycrc.Model("CRC64-REDIS")
Damage = Callable[[bytes, random.Random], bytes | None]


def flip(data: bytes, rng: random.Random) -> bytes:
    damaged = bytearray(data)
    damaged[rng.randrange(9, len(data) - 8)] ^= 1 << rng.randrange(8)
    return bytes(damaged)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) // 2, len(data) - 1)]


def zero_block(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(9, len(data) - 4096 - 8)
    return data[:start] + bytes(4096) + data[start + 4096 :]


def consistent_rewrite(data: bytes, rng: random.Random) -> bytes:
    """Damage the data and fix up the RDB's own CRC-64 trailer: only the manifest's SHA-256 can tell."""
    body = flip(data, rng)[:-8]
    return body + CRC64.calc(body).to_bytes(8, "little")


def lose(_data: bytes, _rng: random.Random) -> None:
    return None


NODE_DAMAGE: dict[str, Damage] = {
    "flipped bit": flip,
    "truncated": truncate,
    "zeroed 4 KiB": zero_block,
    "CRC trailer rewritten to match": consistent_rewrite,
    "object lost": lose,
}


def user_env(kube: Cluster, operator: RunningOperator, s3: S3Bucket) -> dict[str, str]:
    assert operator.config_path is not None
    return {"KUBECONFIG": str(kube.kubeconfig), "REDISBACKUP_CONFIG": str(operator.config_path), **s3.server.env()}


def damage(s3: S3Bucket, key: str, how: Damage, rng: random.Random) -> None:
    data = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    damaged = how(data, rng)
    if damaged is None:
        s3.client().delete_object(Bucket=s3.bucket, Key=key)
    else:
        s3.client().put_object(Bucket=s3.bucket, Key=key, Body=damaged)


def test_every_kind_of_damage_to_a_stored_snapshot_is_caught_by_verify_and_refused_by_restore(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_standalone: Topology,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    with redis_standalone.primary.client() as c:
        redis_nodes.fill_mixed(c, count=2000)
    mirror.pods(redis_standalone, namespace, "cache")
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    env = user_env(kube, operator, s3)
    kinds = [*NODE_DAMAGE, "manifest overwritten"]
    names = [f"rot-{index}" for index in range(len(kinds))]
    for name in [*names, "intact"]:
        create(kube_api, namespace, name, cacheClusterId="cache-001")
    wait_settled(kube_api, namespace, [*names, "intact"], timeout=180, operator=operator)

    undetected, reasons = [], []
    for name, kind in zip(names, kinds, strict=True):
        body = get(kube_api, namespace, name)
        assert body is not None
        (node,) = body["status"]["nodeSnapshots"]
        if kind in NODE_DAMAGE:
            damage(s3, node["objectKey"], NODE_DAMAGE[kind], rng)
        else:
            manifest_key = node["objectKey"].rsplit("/", 2)[0] + "/manifest.json"
            s3.client().put_object(Bucket=s3.bucket, Key=manifest_key, Body=json.dumps({"junk": rng.random()}))
        target = tmp_path / name
        restored = redisbackup("restore", "--snapshot-name", name, "-n", namespace, "--to-dir", str(target), env=env)
        verified = redisbackup("verify", "--snapshot-name", name, "-n", namespace, "-o", "json", env=env)
        after = get(kube_api, namespace, name) or {}
        verification = (after.get("status") or {}).get("verification") or {}
        wrote = target.exists() and any(target.iterdir())
        reason = verification.get("reason") or restored.stderr.split(":", 2)[1].strip()
        reasons.append(f"{kind}: {reason}")
        caught = (
            restored.returncode == 1
            and not wrote
            and verified.returncode == 1
            and (verification.get("result") == "Failed" or kind == "manifest overwritten")
            and reason in TYPED_REASONS
        )
        if not caught:
            undetected.append(
                f"{kind}: restore {restored.returncode} {restored.stderr[-300:]} verify "
                f"{verified.returncode} {verified.stdout[-300:]} {verified.stderr[-300:]}"
            )
        if verification:
            assert condition_of(after, "Verified").get("status") == "False", f"{kind}: {after.get('status')}"

    intact = redisbackup("verify", "--snapshot-name", "intact", "-n", namespace, env=env)
    # The operator's own verification (spec.verify) reaches the same verdict, without crashing or retrying for ever.
    objects = client.CustomObjectsApi(kube_api)
    before = {name: ((get(kube_api, namespace, name) or {}).get("status") or {}).get("verification") for name in names}
    # (the CLI recorded no verdict for the unreadable manifest: it could not even say which nodes there are)
    for name in names[-1:]:
        objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": {"verify": True}})
        body = wait_for(
            kube_api,
            namespace,
            name,
            lambda b, name=name: (
                condition_of(b, "Verified").get("reason") == "StoredObjectCorrupt"
                and (b["status"].get("verification") or {}).get("verifyTime") != (before[name] or {}).get("verifyTime")
            ),
            what="had its corruption found by the operator",
            timeout=120,
            operator=operator,
        )
        assert condition_of(body, "Verified")["status"] == "False"
    assert "Traceback" not in operator.process.log_path.read_text(errors="replace"), operator.log_tail(60)
    for name in names:  # damaged or not, deleting a backup removes what is left of it
        delete(kube_api, namespace, name)
    for name in names:
        wait_gone(kube_api, namespace, name, timeout=120)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row("corrupted objects at restore/verify")), result, runs=len(kinds) + 1)
    row.failed_typed = len(kinds) - len(undetected)  # detected and refused with a typed reason
    row.defects += len(undetected) + (intact.returncode != 0)
    row.notes = "; ".join(reasons)
    assert not undetected, undetected
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert_clean(row, result)
