"""The webhook handler, called as kopf calls it, and its agreement with `redisbackup validate` on every case."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from redisbackup.api.documents import check_documents
from redisbackup.api.resource import is_redisbackup
from redisbackup.api.validation import ExistingBackup
from redisbackup.handlers import admission

CASES = Path(__file__).resolve().parents[2] / "data" / "redisbackups.yaml"


class FakeCluster:
    """What the apiserver would hold after each accepted request; the webhook's lookup reads from it."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Mapping[str, Any]] = {}

    async def existing_backups(self, namespace: str) -> list[ExistingBackup]:
        found = (ExistingBackup.from_body(b) for (ns, _), b in self.objects.items() if ns == namespace)
        return [backup for backup in found if backup is not None]

    async def apply(self, document: Mapping[str, Any], namespace: str) -> str | None:
        """Send `document` through the webhook as `kubectl apply` would; the rejection message, or None."""
        key = (namespace, document["metadata"]["name"])
        old = self.objects.get(key)
        warnings: list[str] = []
        try:
            await admission.validate_redisbackup(
                operation="UPDATE" if old is not None else "CREATE",
                old=old,
                new=document,
                namespace=namespace,
                warnings=warnings,
            )
        except kopf.AdmissionError as error:
            return str(error)
        self.objects[key] = document
        return None


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster()
    monkeypatch.setattr(admission, "existing_backups", fake.existing_backups)
    return fake


async def test_the_webhook_and_validate_agree_on_every_case(cluster: FakeCluster) -> None:
    documents = list(yaml.safe_load_all(CASES.read_text()))
    offline = {result.index: result for result in check_documents(documents, namespace="team-a")}
    compared = 0
    for index, document in enumerate(documents, start=1):
        if not is_redisbackup(document):
            assert index not in offline
            continue
        rejection = await cluster.apply(document, "team-a")
        expected = "; ".join(str(v) for v in offline[index].violations) or None
        assert rejection == expected, f"document {index} ({document['metadata']['name']})"
        compared += 1
    assert compared == 15
    assert sorted(name for _, name in cluster.objects) == ["cluster", "nightly"]
    assert cluster.objects[("team-a", "nightly")]["spec"]["deletionPolicy"] == "Retain"


async def test_a_taken_name_is_a_409_conflict_and_other_faults_a_422(cluster: FakeCluster) -> None:
    good = {"metadata": {"name": "a"}, "spec": {"snapshotName": "bkup", "cacheClusterId": "node"}}
    assert await cluster.apply(good, "ns") is None
    with pytest.raises(kopf.AdmissionError) as taken:
        await admission.validate_redisbackup(
            operation="CREATE", new={**good, "metadata": {"name": "b"}}, namespace="ns", warnings=[]
        )
    assert taken.value.code == 409
    bad = {"metadata": {"name": "c"}, "spec": {"snapshotName": "bkup-", "cacheClusterId": "node"}}
    with pytest.raises(kopf.AdmissionError) as invalid:
        await admission.validate_redisbackup(operation="CREATE", new=bad, namespace="ns", warnings=[])
    assert invalid.value.code == 422


async def test_a_mixed_case_source_is_admitted_with_a_warning(cluster: FakeCluster) -> None:
    warnings: list[str] = []
    body = {"metadata": {"name": "a"}, "spec": {"snapshotName": "bkup", "cacheClusterId": "myCluster-1"}}
    await admission.validate_redisbackup(operation="CREATE", new=body, namespace="ns", warnings=warnings)
    assert warnings == [
        'spec.cacheClusterId "myCluster-1" is case-insensitive, as in ElastiCache: the operator looks for "mycluster-1"'
    ]


async def test_when_the_other_backups_cannot_be_listed_the_webhook_refuses_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(namespace: str) -> list[ExistingBackup]:
        raise ConnectionError("apiserver unreachable")

    monkeypatch.setattr(admission, "existing_backups", broken)
    body = {"metadata": {"name": "a"}, "spec": {"snapshotName": "bkup", "cacheClusterId": "node"}}
    with pytest.raises(kopf.AdmissionError) as refused:
        await admission.validate_redisbackup(operation="CREATE", new=body, namespace="ns", warnings=[])
    assert refused.value.code == 503
    assert "could not list the RedisBackups of namespace ns" in str(refused.value)
    assert "ConnectionError" in str(refused.value)
