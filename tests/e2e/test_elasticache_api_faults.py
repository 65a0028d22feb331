"""The ElastiCache API's refusals, through the real aws CLI v1 and boto3: each fault with the model's code and
status, aws's error line and exit status 255, credentials that do not verify, and a key without RBAC."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from kubernetes import client

from devstack.cluster import Cluster
from devstack.elasticache_api import Key, RunningApi, grant
from tests.e2e.elasticache_api_support import aws, create_backups, error_line
from tests.e2e.restore_support import redisbackup

pytestmark = pytest.mark.e2e


FAULTS = [
    # (aws elasticache arguments, code, operation, the message's beginning)
    (["describe-snapshots", "--snapshot-name", "nope"], "SnapshotNotFoundFault", "Snapshot nope not found"),
    (["delete-snapshot", "--snapshot-name", "nope"], "SnapshotNotFoundFault", "Snapshot nope not found"),
    (
        ["describe-cache-clusters", "--cache-cluster-id", "nowhere-001"],
        "CacheClusterNotFound",
        "CacheCluster not found: nowhere-001",
    ),
    (
        ["describe-replication-groups", "--replication-group-id", "nowhere"],
        "ReplicationGroupNotFoundFault",
        "Replication group nowhere not found",
    ),
    (["describe-snapshots", "--max-records", "10"], "InvalidParameterValue", "MaxRecords 10 is out of range: give 20"),
    (
        ["describe-snapshots", "--cache-cluster-id", "a", "--replication-group-id", "b"],
        "InvalidParameterCombination",
        "CacheClusterId and ReplicationGroupId cannot be combined",
    ),
    (
        ["list-tags-for-resource", "--resource-name", "arn:aws:s3:::bucket"],
        "InvalidARN",
        "'arn:aws:s3:::bucket' is not an ElastiCache ARN",
    ),
    (
        ["create-snapshot", "--snapshot-name", "a", "--cache-cluster-id", "b", "--kms-key-id", "k"],
        "InvalidParameterCombination",
        "KmsKeyId is not supported",
    ),
    (
        ["copy-snapshot", "--source-snapshot-name", "nope", "--target-snapshot-name", "copy", "--kms-key-id", "k"],
        "InvalidParameterCombination",
        "KmsKeyId is not supported",
    ),
]


def _operation(command: str) -> str:
    return "".join(part.capitalize() for part in command.split("-"))


@pytest.mark.parametrize(("args", "code", "message"), FAULTS, ids=[f"{a[0]}-{c}" for a, c, _ in FAULTS])
def test_each_fault_is_awss_error_line_and_exit_255(
    elasticache_api: RunningApi, api_user: Key, args: list[str], code: str, message: str
) -> None:
    operation = _operation(args[0])
    status, document, stderr = aws(elasticache_api, api_user, *args)
    assert (status, document) == (255, None), stderr
    assert stderr.startswith(f"\n{error_line(code, operation)}{message}"), stderr


def test_a_snapshot_name_taken_is_snapshot_already_exists(
    elasticache_api: RunningApi, api_user: Key, kube_api: client.ApiClient, namespace: str
) -> None:
    create_backups(kube_api, namespace, 1)
    status, _, stderr = aws(
        elasticache_api, api_user, "create-snapshot", "--snapshot-name", "page-000", "--cache-cluster-id", "x"
    )
    assert status == 255
    assert stderr.startswith(f"\n{error_line('SnapshotAlreadyExistsFault', 'CreateSnapshot')}Snapshot with specified")


def test_a_snapshot_being_created_cannot_be_deleted_and_tags_follow_the_rules(
    elasticache_api: RunningApi, api_user: Key, kube_api: client.ApiClient, namespace: str
) -> None:
    create_backups(kube_api, namespace, 1)  # no operator: it stays creating
    status, _, stderr = aws(elasticache_api, api_user, "delete-snapshot", "--snapshot-name", "page-000")
    assert status == 255
    assert stderr.startswith(f"\n{error_line('InvalidSnapshotState', 'DeleteSnapshot')}Snapshot page-000 is creating")

    client_ = elasticache_api.boto3(api_user)
    arn = f"arn:aws:elasticache:us-east-1:{namespace}:snapshot:page-000"
    with pytest.raises(ClientError) as missing_tag:
        client_.remove_tags_from_resource(ResourceName=arn, TagKeys=["team"])
    assert missing_tag.value.response["Error"]["Code"] == "TagNotFound"
    assert missing_tag.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(ClientError) as quota:
        client_.add_tags_to_resource(ResourceName=arn, Tags=too_many)
    assert quota.value.response["Error"]["Code"] == "TagQuotaPerResourceExceeded"
    elsewhere = arn.replace(f":{namespace}:", ":kube-system:")
    with pytest.raises(ClientError) as other_namespace:
        client_.list_tags_for_resource(ResourceName=elsewhere)
    assert other_namespace.value.response["Error"]["Code"] == "InvalidARN"
    assert f"these credentials work in namespace {namespace}" in other_namespace.value.response["Error"]["Message"]


def test_a_wrong_secret_and_an_unknown_key_are_refused_as_aws_refuses_them(
    elasticache_api: RunningApi, api_user: Key
) -> None:
    wrong = Key(api_user.access_key_id, "not-the-secret", api_user.namespace, api_user.user)
    status, _, stderr = aws(elasticache_api, wrong, "describe-snapshots")
    assert status == 255
    assert stderr.startswith(f"\n{error_line('SignatureDoesNotMatch', 'DescribeSnapshots')}The request signature")

    unknown = Key("RBKNOSUCHKEY00000000", api_user.secret_access_key, api_user.namespace, api_user.user)
    status, _, stderr = aws(elasticache_api, unknown, "describe-snapshots")
    assert status == 255
    assert stderr.startswith(f"\n{error_line('InvalidClientTokenId', 'DescribeSnapshots')}The security token")


def test_a_key_whose_identity_lacks_rbac_gets_access_denied_with_the_apiservers_reason(
    kube: Cluster, elasticache_api: RunningApi, namespace: str
) -> None:
    grant(kube, namespace, "nobody", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    key = elasticache_api.issue_key(kube, service_account=(namespace, "nobody"))
    status, _, stderr = aws(elasticache_api, key, "describe-snapshots")
    assert status == 255
    assert stderr.startswith(f"\n{error_line('AccessDenied', 'DescribeSnapshots')}not allowed to list RedisBackups")
    assert f'User "system:serviceaccount:{namespace}:nobody" cannot list resource "redisbackups"' in stderr

    with pytest.raises(ClientError) as denied:
        elasticache_api.boto3(key).describe_cache_clusters()
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_a_deleted_key_secret_stops_working_within_seconds(
    kube: Cluster, elasticache_api: RunningApi, api_user: Key
) -> None:
    status, document, stderr = aws(elasticache_api, api_user, "describe-snapshots")
    assert (status, document) == (0, {"Snapshots": []}), stderr
    result = redisbackup(
        "delete-access-key", "-n", elasticache_api.keys_namespace, "--access-key-id", api_user.access_key_id,
        env={"KUBECONFIG": str(kube.kubeconfig)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 30
    while True:
        status, _, stderr = aws(elasticache_api, api_user, "describe-snapshots")
        if status != 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 255
    assert error_line("InvalidClientTokenId", "DescribeSnapshots") in stderr
