"""Requests decoded as botocore encodes them, responses rendered so that botocore's own parser reads them back.

Every served action is exercised both ways: a request serialized by botocore's QuerySerializer decodes into the
same parameters, and a response rendered from the output shape parses (botocore's QueryParser) into the same
document — so the aws CLI and boto3 read exactly what the core answered.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

import pytest
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer

from redisbackup.queryapi import model
from redisbackup.queryapi.actions import ACTIONS
from redisbackup.queryapi.errors import QueryError
from redisbackup.queryapi.params import decode
from redisbackup.queryapi.rendering import ShapeMismatch, render_error, render_result

CREATED = dt.datetime(2017, 1, 12, 18, 59, 48, 48000, tzinfo=dt.UTC)
SNAPSHOT: dict[str, Any] = {
    "SnapshotName": "bkup-20150515",
    "CacheClusterId": "myNonClusteredRedis-001",
    "SnapshotStatus": "creating",
    "SnapshotSource": "manual",
    "CacheNodeType": "cpu=500m,memory=1Gi",
    "Engine": "redis",
    "EngineVersion": "7.2.4",
    "NumCacheNodes": 1,
    "CacheClusterCreateTime": CREATED,
    "Port": 6379,
    "SnapshotRetentionLimit": 0,
    "NodeSnapshots": [{"CacheNodeId": "0001", "CacheSize": "", "CacheNodeCreateTime": CREATED}],
    "ARN": "arn:aws:elasticache:us-east-1:demo:snapshot:bkup-20150515",
}
CLUSTER_SNAPSHOT: dict[str, Any] = {
    "SnapshotName": "cluster-20150515",
    "ReplicationGroupId": "myClusteredRedis",
    "SnapshotStatus": "available",
    "NumNodeGroups": 2,
    "AutomaticFailover": "enabled",
    "NodeSnapshots": [
        {
            "CacheClusterId": "myclusteredredis-0",
            "NodeGroupId": "0001",
            "CacheNodeId": "0001",
            "NodeGroupConfiguration": {"NodeGroupId": "0001", "Slots": "0-8191"},
            "CacheSize": "1024",
            "SnapshotCreateTime": CREATED,
        },
        {"NodeGroupId": "0002", "CacheSize": "2048"},
    ],
}
CACHE_CLUSTER = {
    "CacheClusterId": "mynonclusteredredis",
    "Engine": "redis",
    "CacheClusterStatus": "available",
    "NumCacheNodes": 1,
    "CacheClusterCreateTime": CREATED,
    "CacheNodes": [
        {
            "CacheNodeId": "0001",
            "CacheNodeStatus": "available",
            "CacheNodeCreateTime": CREATED,
            "Endpoint": {"Address": "10.0.0.7", "Port": 6379},
        }
    ],
    "ARN": "arn:aws:elasticache:us-east-1:demo:cluster:mynonclusteredredis",
}
GROUP = {
    "ReplicationGroupId": "myclusteredredis",
    "Description": "StatefulSet myclusteredredis: 2 Redis pods",
    "Status": "available",
    "MemberClusters": ["myclusteredredis-0", "myclusteredredis-1"],
    "NodeGroups": [
        {
            "NodeGroupId": "0001",
            "Status": "available",
            "NodeGroupMembers": [
                {
                    "CacheClusterId": "myclusteredredis-0",
                    "CacheNodeId": "0001",
                    "ReadEndpoint": {"Address": "10.0.0.8", "Port": 6379},
                },
                {"CacheClusterId": "myclusteredredis-1", "CacheNodeId": "0001"},
            ],
        }
    ],
    "ARN": "arn:aws:elasticache:us-east-1:demo:replicationgroup:myclusteredredis",
    "ReplicationGroupCreateTime": CREATED,
    "AutomaticFailover": "enabled",
    "ClusterEnabled": True,
    "ClusterMode": "enabled",
}
REPLICATED_GROUP = {
    "ReplicationGroupId": "myreplicatedredis",
    "Status": "available",
    "MemberClusters": ["myreplicatedredis-0"],
    "NodeGroups": [
        {
            "NodeGroupId": "0001",
            "Status": "available",
            "PrimaryEndpoint": {"Address": "10.0.0.9", "Port": 6379},
            "NodeGroupMembers": [
                {"CacheClusterId": "myreplicatedredis-0", "CacheNodeId": "0001", "CurrentRole": "primary"}
            ],
        }
    ],
    "ClusterEnabled": False,
    "ClusterMode": "disabled",
}
TAGS = {"TagList": [{"Key": "team", "Value": "payments"}, {"Key": "empty", "Value": ""}]}
ARN = "arn:aws:elasticache:us-east-1:demo:snapshot:bkup-20150515"

# One request and one answer per action, as a client would send and the core would answer.
EXAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "CreateSnapshot": (
        {
            "SnapshotName": "bkup-20150515",
            "CacheClusterId": "myNonClusteredRedis-001",
            "Tags": [{"Key": "a", "Value": "1"}],
        },
        {"Snapshot": SNAPSHOT},
    ),
    "CopySnapshot": (
        {"SourceSnapshotName": "bkup-20150515", "TargetSnapshotName": "copy", "TargetBucket": "archive", "Tags": []},
        {"Snapshot": {**SNAPSHOT, "SnapshotName": "copy"}},
    ),
    "DescribeSnapshots": (
        {"ReplicationGroupId": "myClusteredRedis", "ShowNodeGroupConfig": True, "MaxRecords": 20, "Marker": "WyJ4Il0="},
        {"Snapshots": [SNAPSHOT, CLUSTER_SNAPSHOT], "Marker": "WyJ5Il0="},
    ),
    "DeleteSnapshot": ({"SnapshotName": "bkup-20150515"}, {"Snapshot": {**SNAPSHOT, "SnapshotStatus": "deleting"}}),
    "DescribeCacheClusters": (
        {
            "CacheClusterId": "mynonclusteredredis",
            "ShowCacheNodeInfo": True,
            "ShowCacheClustersNotInReplicationGroups": False,
        },
        {"CacheClusters": [CACHE_CLUSTER]},
    ),
    "DescribeReplicationGroups": (
        {"ReplicationGroupId": "myclusteredredis", "MaxRecords": 100},
        {"ReplicationGroups": [GROUP, REPLICATED_GROUP]},
    ),
    "ListTagsForResource": ({"ResourceName": ARN}, TAGS),
    "AddTagsToResource": (
        {"ResourceName": ARN, "Tags": [{"Key": "team", "Value": "payments"}, {"Key": "empty", "Value": ""}]},
        TAGS,
    ),
    "RemoveTagsFromResource": ({"ResourceName": ARN, "TagKeys": ["team", "x y"]}, {"TagList": []}),
}


def serialized(action: str, params: dict[str, Any]) -> dict[str, list[str]]:
    """The form botocore sends for `params`, decoded as the server receives it."""
    request = QuerySerializer().serialize_to_request(params, model.operation(action))
    body = urllib.parse.urlencode(request["body"], doseq=True)
    return urllib.parse.parse_qs(body, keep_blank_values=True)


def parsed(action: str, body: bytes, status: int = 200) -> dict[str, Any]:
    operation = model.operation(action)
    response = {"body": body, "headers": {}, "status_code": status}
    document: dict[str, Any] = QueryParser().parse(response, operation.output_shape)
    return document


def test_every_served_action_has_an_example() -> None:
    assert set(EXAMPLES) == set(ACTIONS)


@pytest.mark.parametrize("action", sorted(EXAMPLES))
def test_a_request_botocore_serializes_decodes_into_the_same_parameters(action: str) -> None:
    params, _ = EXAMPLES[action]
    form = serialized(action, params)
    assert form["Action"] == [action]
    assert form["Version"] == ["2015-02-02"]
    assert decode(model.operation(action).input_shape, form) == params


@pytest.mark.parametrize("action", sorted(EXAMPLES))
def test_a_rendered_answer_parses_back_with_botocores_parser(action: str) -> None:
    _, result = EXAMPLES[action]
    body = render_result(model.operation(action), result, "req-1")
    assert body.startswith(b"<?xml")
    assert (
        f'<{action}Response xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><{action}Result>'.encode() in body
    )
    document = parsed(action, body)
    assert document.pop("ResponseMetadata")["RequestId"] == "req-1"
    assert document == result


def test_list_members_are_named_by_the_model() -> None:
    body = render_result(model.operation("DescribeSnapshots"), {"Snapshots": [CLUSTER_SNAPSHOT]}, "r").decode()
    assert "<Snapshots><Snapshot><SnapshotName>cluster-20150515</SnapshotName>" in body
    assert "<NodeSnapshots><NodeSnapshot><CacheClusterId>myclusteredredis-0</CacheClusterId>" in body
    tags = render_result(model.operation("ListTagsForResource"), TAGS, "r").decode()
    assert "<TagList><Tag><Key>team</Key><Value>payments</Value></Tag>" in tags
    groups = render_result(model.operation("DescribeReplicationGroups"), {"ReplicationGroups": [GROUP]}, "r").decode()
    assert "<MemberClusters><ClusterId>myclusteredredis-0</ClusterId>" in groups
    assert "<CacheClusterCreateTime>" not in groups
    snapshot = render_result(model.operation("CreateSnapshot"), {"Snapshot": SNAPSHOT}, "r").decode()
    assert "<CacheClusterCreateTime>2017-01-12T18:59:48.048Z</CacheClusterCreateTime>" in snapshot


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"Snapshot": {"SnapshotName": "x", "Bogus": 1}}, "'Bogus'] are not members of Snapshot"),
        ({"Snapshot": {"AutomaticFailover": "sometimes"}}, "'sometimes' is not one of AutomaticFailoverStatus"),
        ({"Snapshot": {"Port": True}}, "does not fit IntegerOptional"),
        ({"Snapshot": {"Port": "6379"}}, "does not fit IntegerOptional"),
        ({"Snapshot": {"NodeSnapshots": {"CacheNodeId": "0001"}}}, "expected a list"),
        ({"Snapshot": {"CacheClusterCreateTime": "yesterday"}}, "is not an ISO 8601 time"),
    ],
)
def test_a_value_that_does_not_fit_the_shape_is_refused_when_rendering(result: dict[str, Any], message: str) -> None:
    with pytest.raises(ShapeMismatch, match=message):
        render_result(model.operation("CreateSnapshot"), result, "r")


def test_an_error_parses_as_botocore_reads_errors() -> None:
    body = render_error(QueryError("SnapshotNotFoundFault", "Snapshot x not found", status=404), "req-2")
    response = {"body": body, "headers": {}, "status_code": 404}
    error = QueryParser().parse(response, None)
    assert error["Error"] == {"Type": "Sender", "Code": "SnapshotNotFoundFault", "Message": "Snapshot x not found"}
    assert error["ResponseMetadata"]["RequestId"] == "req-2"


@pytest.mark.parametrize(
    ("form", "code", "message"),
    [
        ({"SnapshotName": ["a"], "Bogus": ["1"]}, "InvalidParameterValue", "Unknown parameter Bogus"),
        ({"MaxRecords": ["twenty"]}, "InvalidParameterValue", "MaxRecords: it must be an integer"),
        ({"MaxRecords": ["99999999999"]}, "InvalidParameterValue", "out of range"),
        ({"ShowNodeGroupConfig": ["yes"]}, "InvalidParameterValue", "use true or false"),
        ({"SnapshotName": ["a", "b"]}, "InvalidParameterValue", "given 2 times"),
    ],
)
def test_a_parameter_that_does_not_fit_is_a_400_naming_it(form: dict[str, list[str]], code: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as refused:
        decode(model.operation("DescribeSnapshots").input_shape, form)
    assert (refused.value.code, refused.value.status) == (code, 400)


@pytest.mark.parametrize(
    ("action", "form", "code", "message"),
    [
        ("DeleteSnapshot", {}, "MissingParameter", "must contain the parameter SnapshotName"),
        (
            "AddTagsToResource",
            {"ResourceName": [ARN], "Tags.Tag.x.Key": ["a"]},
            "InvalidParameterValue",
            "no list index",
        ),
        (
            "AddTagsToResource",
            {"ResourceName": [ARN], "Tags.Tag.1.Color": ["a"]},
            "InvalidParameterValue",
            "Unknown parameter Tags.Tag.1.Color",
        ),
        ("RemoveTagsFromResource", {"ResourceName": [ARN], "TagKeys": ["a"]}, "InvalidParameterValue", "is a list"),
    ],
)
def test_required_and_list_parameters_are_checked(
    action: str, form: dict[str, list[str]], code: str, message: str
) -> None:
    with pytest.raises(QueryError, match=message) as refused:
        decode(model.operation(action).input_shape, form)
    assert refused.value.code == code


def test_the_cores_faults_keep_the_models_status_and_only_the_servers_side_is_a_5xx() -> None:
    from redisbackup.domain.resolution import SourceNotFound
    from redisbackup.k8s.faults import AccessDenied, KubernetesUnavailable, ObjectNotFound, UpdateConflict
    from redisbackup.queryapi.errors import wire_error

    assert (wire_error(SourceNotFound("x")).code, wire_error(SourceNotFound("x")).status) == (
        "CacheClusterNotFound",
        404,
    )
    assert wire_error(AccessDenied("x")).status == 403
    assert wire_error(ObjectNotFound('namespaces "nope" not found')).status == 404
    assert wire_error(KubernetesUnavailable("down")).status == 503
    assert wire_error(UpdateConflict("changed")).status == 503  # retrying is right: the object changed meanwhile
