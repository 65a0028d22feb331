"""RedisBackup.spec: what to snapshot and how to reach it — the shape of ElastiCache's CreateSnapshot request.

These models are the single source of truth for the CRD's spec schema (`redisbackup.api.crd`): field
descriptions become `kubectl explain` text, constraints become OpenAPI keywords, and `x-kubernetes-validations`
carry the CEL rules. The spec is immutable once created, except `deletionPolicy`, `verify` and `tags` (ElastiCache's
tags change after creation: AddTagsToResource, RemoveTagsFromResource).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from redisbackup.api import naming
from redisbackup.api.cel import cel_rule, validations
from redisbackup.api.faults import FaultCode

MAX_TAGS = 50  # ElastiCache's limit per resource (TagQuotaPerResourceExceeded)
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
SOURCE_FIELDS = ("cacheClusterId", "replicationGroupId", "sourceSnapshotName")
# Settings for reading a Redis source; a copy reads a stored snapshot and has no use for them.
REDIS_SOURCE_SETTINGS = ("sourceNamespace", "auth", "tls", "port")
# The one place that says what may change after creation: the CRD's CEL rules and the webhook both follow it.
MUTABLE_SPEC_FIELDS = frozenset({"deletionPolicy", "verify", "tags"})


class SpecModel(BaseModel):
    # strict: the apiserver does not coerce "6379" into an integer, so offline validation must not either.
    # Descriptions are given with Field(description=…), never as attribute docstrings: pydantic's
    # use_attribute_docstrings parses every model's source at import, a quarter of the model-building time of each
    # CLI start-up (a figure of `make bench`).
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True, defer_build=True
    )


# A Secret's name is a DNS-1123 subdomain: no "/" (nothing can name another namespace's Secret), no "..".
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A key of a Secret's data, as the apiserver allows it.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
SecretName = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN)]
SecretKey = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)]


class SecretKeySelector(SpecModel):
    """A key of a Secret in the RedisBackup's namespace."""

    name: SecretName = Field(description="Name of the Secret, in the same namespace as the RedisBackup.")
    key: SecretKey = Field(description="Key within the Secret whose value is used.")


class SecretReference(SpecModel):
    """A Secret in the RedisBackup's namespace."""

    name: SecretName = Field(description="Name of the Secret, in the same namespace as the RedisBackup.")


class RedisAuth(SpecModel):
    """How to authenticate to the Redis nodes (AUTH / ACL)."""

    secret_ref: SecretKeySelector = Field(
        description="Secret key holding the password (requirepass, or the ACL user's password)."
    )
    username: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None,
        description="ACL user name; when absent the password authenticates the default user. The user needs the "
        "SYNC and REPLCONF commands (and INFO, CLUSTER SHARDS for discovery).",
    )


class RedisTLS(SpecModel):
    """TLS towards the Redis nodes."""

    enabled: bool = Field(default=True, description="Connect to Redis with TLS.")
    ca_secret_ref: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the CA bundle (PEM) that signed the Redis server certificates; when "
        "absent the system trust store is used.",
    )
    cert_secret_ref: SecretReference | None = Field(
        default=None,
        description="A kubernetes.io/tls Secret (tls.crt, tls.key) presented as the client certificate, for "
        "servers that require one (tls-auth-clients yes).",
    )
    server_name: Annotated[str, StringConstraints(min_length=1, max_length=253)] | None = Field(
        default=None,
        description="Server name to verify in the Redis certificates (SNI); defaults to the node's address.",
    )


# A storage location's name (the operator's configuration) and a namespace's: DNS labels.
DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class SourceAccess(SpecModel):
    """How to reach the Redis source and where to store its snapshot.

    One definition for a RedisBackup's spec and a RedisBackupSchedule's spec.template, so that what a schedule
    copies into its automated backups is validated and documented exactly as a manual backup's own fields.
    """

    auth: RedisAuth | None = Field(default=None, description="Credentials for the Redis nodes, if they need any.")
    tls: RedisTLS | None = Field(default=None, description="TLS settings for the Redis nodes, if they use TLS.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Redis port; defaults to the container port named redis or tcp-redis, else 6379.",
    )
    storage: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Name of a storage location from the operator's configuration; defaults to its default location.",
    )


# A Literal, not an Enum: strict validation of a plain dict (what YAML and the apiserver give) accepts only
# Enum instances for Enum fields.
DeletionPolicy = Literal["Delete", "Retain"]


def _immutable_rule(field: str) -> dict[str, str]:
    # A transition rule on the spec object, not `self == oldSelf` on each field: a rule on an optional field only
    # runs when both the old and the new object have it, so adding or removing the field would slip through.
    rule = f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"
    return cel_rule(rule, FaultCode.INVALID_PARAMETER_VALUE, immutable_message(field), field_path=f".{field}")


def immutable_message(field: str) -> str:
    mutable = ", ".join(f"spec.{name}" for name in sorted(MUTABLE_SPEC_FIELDS))
    return (
        f"spec.{field} cannot be changed after the RedisBackup is created (only {mutable} can): create a new "
        "RedisBackup instead"
    )


def both_sources_message() -> str:
    return (
        "more than one of spec.cacheClusterId, spec.replicationGroupId and spec.sourceSnapshotName is set: set only "
        "one, cacheClusterId for a single Redis node, replicationGroupId for a Redis Cluster, or sourceSnapshotName "
        "to copy an existing snapshot"
    )


def no_source_message() -> str:
    return (
        "none of spec.cacheClusterId, spec.replicationGroupId and spec.sourceSnapshotName is set: set cacheClusterId "
        "to back up a single Redis node, replicationGroupId to back up a Redis Cluster, or sourceSnapshotName to "
        "copy an existing snapshot"
    )


def copy_settings_message() -> str:
    return (
        "spec.sourceSnapshotName copies a stored snapshot, so spec.sourceNamespace, spec.auth, spec.tls and spec.port "
        "(settings for reading a Redis source) do not apply: remove them"
    )


def tag_key_message(field: str = "spec.tags") -> str:
    return f"{field} has a key that is empty or longer than {MAX_TAG_KEY_LENGTH} characters: shorten or remove it"


Tags = dict[str, Annotated[str, StringConstraints(max_length=MAX_TAG_VALUE_LENGTH)]]


def tags_field(field: str, description: str) -> Any:
    """Tags (ElastiCache's, at most MAX_TAGS), with the CEL rule on their keys worded for `field`."""
    return Field(
        default=None,
        max_length=MAX_TAGS,
        description=description,
        json_schema_extra=validations(
            cel_rule(
                f"self.all(k, size(k) >= 1 && size(k) <= {MAX_TAG_KEY_LENGTH})",
                FaultCode.INVALID_PARAMETER_VALUE,
                tag_key_message(field),
            )
        ),
    )


def name_field(kind: naming.NameKind, description: str, *, required: bool = False) -> Any:
    """A field following the naming rules: OpenAPI pattern and lengths, plus one CEL rule per naming rule."""
    return Field(
        default=... if required else None,
        description=description,
        min_length=1,
        max_length=kind.max_length,
        pattern=naming.NAME_PATTERN,
        json_schema_extra=validations(*kind.cel_rules()),
    )


class RedisBackupSpec(SourceAccess):
    """A manual backup (snapshot) of a Redis node or a Redis Cluster, as ElastiCache's CreateSnapshot.

    Set snapshotName and exactly one source: cacheClusterId, replicationGroupId, or sourceSnapshotName (a copy of
    another snapshot, as ElastiCache's CopySnapshot). The spec cannot change after
    creation, except deletionPolicy and verify.
    """

    # auth, tls, port and storage: from SourceAccess, so that a schedule's template cannot drift from them.

    snapshot_name: str = name_field(
        naming.SNAPSHOT_NAME,
        f"Name of the snapshot, as ElastiCache's SnapshotName: 1 to {naming.SNAPSHOT_NAME_MAX_LENGTH} ASCII "
        "letters, digits or hyphens; begins with a letter; no two consecutive hyphens; does not end with a hyphen. "
        "Unique (ignoring case) among the RedisBackups of the namespace.",
        required=True,
    )
    cache_cluster_id: str | None = name_field(
        naming.CACHE_CLUSTER_ID,
        "A single Redis node to back up (Redis cluster mode disabled): the name of a Pod, or of a StatefulSet with "
        "one Pod. For a primary with replicas, name the node to read from, e.g. mycluster-1. Case-insensitive "
        "(resolved in lower case), like ElastiCache's CacheClusterId. The node need not exist yet when the "
        "RedisBackup is created.",
    )
    replication_group_id: str | None = name_field(
        naming.REPLICATION_GROUP_ID,
        "A Redis Cluster to back up (cluster mode enabled), one RDB per shard: the name of its StatefulSet, or the "
        "value of the label redisbackup.io/replication-group on its Pods. Case-insensitive, like ElastiCache's "
        "ReplicationGroupId.",
    )
    source_snapshot_name: str | None = name_field(
        naming.SOURCE_SNAPSHOT_NAME,
        "Copy an existing snapshot instead of reading Redis, as ElastiCache's CopySnapshot SourceSnapshotName: the "
        "spec.snapshotName of an available RedisBackup in this namespace. The operator copies its stored objects "
        "into this RedisBackup's own (spec.storage may name another location), checking every byte against the "
        "source's manifest, so the copy stays whole when the source is deleted.",
    )
    source_namespace: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the source when it is not the RedisBackup's own, so that the backup outlives "
        "the workload's whole namespace, as an ElastiCache snapshot outlives its cluster. That namespace must "
        "agree: its annotation redisbackup.io/allow-backups-from lists this RedisBackup's namespace (comma-"
        "separated, or *). The Secrets of auth and tls are always read from the RedisBackup's own namespace.",
    )
    deletion_policy: DeletionPolicy = Field(
        default="Delete",
        description="What happens to the stored snapshot when the RedisBackup is deleted: Delete removes the "
        "data, Retain keeps it. It can be changed after creation.",
    )
    verify: bool = Field(
        default=False,
        description="Verify the stored snapshot once it is available: each RDB is read back and checked against "
        "the manifest (size, CRC-64, SHA-256), by redis-check-rdb, and by loading it into a throwaway "
        "redis-server. The result is in status.verification and the Verified condition. Can be turned on later.",
    )
    tags: Tags | None = tags_field(
        "spec.tags",
        f"ElastiCache's Tags of the snapshot (at most {MAX_TAGS}); they can be changed later (aws "
        "elasticache add-tags-to-resource). The stored manifest keeps the tags the snapshot had when it was taken.",
    )

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule(
                " + ".join(f"(has(self.{field}) ? 1 : 0)" for field in SOURCE_FIELDS) + " <= 1",
                FaultCode.INVALID_PARAMETER_COMBINATION,
                both_sources_message(),
            ),
            cel_rule(
                " || ".join(f"has(self.{field})" for field in SOURCE_FIELDS),
                FaultCode.INVALID_PARAMETER_COMBINATION,
                no_source_message(),
            ),
            cel_rule(
                "!has(self.sourceSnapshotName) || !("
                + " || ".join(f"has(self.{field})" for field in REDIS_SOURCE_SETTINGS)
                + ")",
                FaultCode.INVALID_PARAMETER_COMBINATION,
                copy_settings_message(),
            ),
        )
    )


def immutable_fields() -> list[str]:
    """The spec fields (as users write them) that cannot change after creation."""
    names = [field.alias or name for name, field in RedisBackupSpec.model_fields.items()]
    return [name for name in names if name not in MUTABLE_SPEC_FIELDS]


def immutability_rules() -> list[dict[str, str]]:
    return [_immutable_rule(field) for field in immutable_fields()]
