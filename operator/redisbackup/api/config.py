"""The operator's configuration: storage locations, limits, scope and ports (one YAML file, rendered by the chart).

The models only: reading the file (and REDISBACKUP_DATA_DIR) is `redisbackup.cli.config_file`'s.

Where snapshots go is decided here by the cluster's administrator, not in each RedisBackup: a RedisBackup may
only name a location (`spec.storage`), and gets the default one otherwise. Keys are camelCase as in Helm values;
every key is checked, and an unknown or misspelt one is refused with its full path and the keys allowed there,
so a typo in a values file never silently falls back to a default.

    storage:
      defaultLocation: embedded
      locations:
        embedded:
          file: {path: /var/lib/redisbackup}
        archive:
          s3:
            bucket: redis-snapshots
            prefix: prod
            region: eu-west-1
            endpoint: https://s3.example.com      # S3-compatible servers; omit for AWS
            addressingStyle: path                 # auto | path | virtual
            credentials:                          # omit: the AWS credential chain (env, IRSA, profile)
              directory: /etc/redisbackup/s3/archive  # a mounted Secret with AWS_ACCESS_KEY_ID, …
    limits:
      sourceMissingDeadlineSeconds: 600
      maxConcurrentSnapshots: 4
      progressIntervalSeconds: 5
      eventWorkers: 1000
    finalSnapshots: {enabled: true, deadlineSeconds: 900}
    namespaces: []                                # empty: every namespace
    metrics: {host: "", port: 8080}               # host "": every address, IPv4 and IPv6
    health: {host: "", port: 8081}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

DEFAULT_LOCATION = "embedded"
DEFAULT_DATA_DIR = "/var/lib/redisbackup"

# A storage location's name is what `spec.storage` holds: the same DNS-label rule as the CRD applies there.
LocationName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]


class ConfigModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", frozen=True, use_attribute_docstrings=True, validate_by_name=True
    )


class FileLocation(ConfigModel):
    """Snapshots as files under a directory (a PersistentVolume in a cluster): the embedded default."""

    path: Annotated[str, StringConstraints(min_length=1, pattern=r"^/")]
    """Absolute path of the directory; created when missing."""


class S3Credentials(ConfigModel):
    """Access keys read from files, as a mounted Secret (the chart's `existingSecret`) provides them."""

    directory: Annotated[str, StringConstraints(min_length=1, pattern=r"^/")]
    """Directory holding one file per key (a Secret mounted as a volume); re-read when the files change."""
    access_key_id_key: str = "AWS_ACCESS_KEY_ID"
    """File (Secret key) with the access key id."""
    secret_access_key_key: str = "AWS_SECRET_ACCESS_KEY"
    """File (Secret key) with the secret access key."""
    session_token_key: str = "AWS_SESSION_TOKEN"
    """File (Secret key) with a session token; used when present."""


class S3Transfer(ConfigModel):
    """How this location's uploads and downloads use threads and memory. Each snapshot stream to it holds up to
    (partsInFlight + 1) x partSizeMiB of parts (larger parts only for RDBs above ~70 GiB: S3 allows 10,000)."""

    threads: int = Field(default=8, ge=1, le=64)
    """Threads (and HTTP connections) shared by every transfer to this location."""
    parts_in_flight: int = Field(default=2, ge=1, le=16)
    """Parts of one stream uploading at the same time while the next one fills."""
    part_size_mib: int = Field(default=8, ge=5, le=5120, alias="partSizeMiB")
    """Size of a multipart upload's parts (S3's minimum is 5 MiB)."""


class S3Location(ConfigModel):
    """An S3 bucket (AWS, or any S3-compatible server such as MinIO, Ceph or SeaweedFS)."""

    bucket: Annotated[str, StringConstraints(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")]
    """The bucket; it must exist (the operator never creates buckets)."""
    prefix: str = ""
    """Key prefix under which every snapshot is stored, e.g. redis/prod."""
    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/\S*)?$")] | None = None
    """Endpoint URL of an S3-compatible server; omit for AWS."""
    region: str | None = None
    """Region; omit to take it from the AWS configuration (AWS_REGION, profile)."""
    addressing_style: Literal["auto", "path", "virtual"] | None = None
    """How the bucket is addressed; default: path with a custom endpoint, else auto."""
    credentials: S3Credentials | None = None
    """Keys from files; omit to use the AWS credential chain (AWS_ACCESS_KEY_ID/…, web identity, profile)."""
    ca_bundle: str | None = None
    """A PEM file of CAs to trust for the endpoint, for servers with a private CA."""
    transfer: S3Transfer = Field(default_factory=S3Transfer)
    """Threads, parts in flight and part size of this location's transfers (memory per stream)."""

    @field_validator("prefix")
    @classmethod
    def _clean_prefix(cls, prefix: str) -> str:
        parts = prefix.strip("/").split("/")
        if prefix.strip("/") and any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"prefix {prefix!r} has an empty, '.' or '..' part: write it as a/b/c")
        return prefix.strip("/")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


class StorageLocation(ConfigModel):
    """Exactly one of `file` or `s3`."""

    file: FileLocation | None = None
    s3: S3Location | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> StorageLocation:
        if (self.file is None) == (self.s3 is None):
            raise ValueError("a storage location has exactly one of file or s3: keep one")
        return self

    @property
    def kind(self) -> Literal["file", "s3"]:
        return "file" if self.file is not None else "s3"

    @property
    def url(self) -> str:
        if self.file is not None:
            return f"file://{self.file.path}"
        assert self.s3 is not None
        return self.s3.url


def embedded_locations(path: str = DEFAULT_DATA_DIR) -> dict[str, StorageLocation]:
    """The locations of a configuration that names none: one directory, `embedded`."""
    return {DEFAULT_LOCATION: StorageLocation(file=FileLocation(path=path))}


class Storage(ConfigModel):
    default_location: LocationName = DEFAULT_LOCATION
    """The location of RedisBackups that name none in spec.storage."""
    locations: dict[LocationName, StorageLocation] = Field(default_factory=embedded_locations, min_length=1)
    """Named locations; a RedisBackup's spec.storage picks one by name."""

    @model_validator(mode="after")
    def _default_exists(self) -> Storage:
        if self.default_location not in self.locations:
            known = ", ".join(sorted(self.locations))
            raise ValueError(
                f"defaultLocation {self.default_location!r} is not one of the locations ({known}): "
                "name one of them, or add it under storage.locations"
            )
        return self


class Limits(ConfigModel):
    source_missing_deadline_seconds: float = Field(default=600.0, ge=0)
    """How long a RedisBackup waits for its source (and its Secret) to appear, or its Pod to be Ready, before it
    fails, counted from when that wait began (status.sourceMissingSince); GitOps tools often create the Redis
    workload a moment after the backup."""
    busy_deadline_seconds: float = Field(default=3600.0, ge=0)
    """How long a RedisBackup waits for a Redis node that says it cannot serve a snapshot yet (loading its data
    set, running a long script, a replica without its primary) before it fails, counted from when that wait began
    (status.busySince). Waiting is not a failed attempt: a large data set can take many minutes to load."""
    max_concurrent_snapshots: int = Field(default=4, ge=1, le=1000)
    """Snapshots streamed at the same time by this operator; the others wait their turn."""
    max_concurrent_streams: int = Field(default=16, ge=1, le=10_000)
    """Node streams (one per Redis node: a 16-shard cluster's backup is 16) read at the same time by this
    operator, whichever snapshots they belong to; the others wait their turn."""
    stream_memory_budget_mib: int | None = Field(default=None, ge=16, alias="streamMemoryBudgetMiB")
    """Memory all node streams together may hold (receive buffers and upload parts, stated per stream in the
    docs); a stream waits for budget rather than exceed it. Default: half the container's memory limit (cgroup),
    no bound when there is none."""
    max_concurrent_verifications: int = Field(default=1, ge=1, le=100)
    """Verifications (spec.verify) run at the same time; each loads one node's data set into a throwaway
    redis-server, so each needs about that much memory (and disk for one RDB) in the operator's Pod."""
    progress_interval_seconds: float = Field(default=5.0, ge=0.5)
    """Least time between two progress updates of a RedisBackup's status while it streams."""
    snapshot_attempts: int = Field(default=5, ge=1)
    """Attempts at a snapshot (or a verification) that keeps failing with a transient fault (connection lost, the
    apiserver or storage not answering, …) before it fails."""
    retry_initial_delay_seconds: float = Field(default=2.0, gt=0)
    """First delay before a retry; it doubles with each retry."""
    retry_max_delay_seconds: float = Field(default=60.0, gt=0)
    """Longest delay between retries (also how soon a force-delete annotation is noticed while deletion is
    blocked)."""
    event_workers: int = Field(default=1000, ge=1, le=100_000)
    """RedisBackups whose events are handled at the same time; the rest of a burst waits its turn (each slot is
    held about a second after its object's last event). A safety bound on memory for very large installations;
    lower values make a start-up with many RedisBackups slower."""
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    """Connecting (and TLS handshake) to a Redis node."""
    first_byte_timeout_seconds: float = Field(default=600.0, gt=0)
    """From SYNC until the RDB starts to arrive (the server forks, and for disk-based replication, saves)."""
    stall_timeout_seconds: float = Field(default=60.0, gt=0)
    """Silence in the middle of an RDB transfer before the attempt is abandoned."""

    def retry_delay(self, retry: int) -> float:
        """Exponential backoff: initial, 2x, 4x … capped at the maximum."""
        delay: float = min(self.retry_initial_delay_seconds * 2.0 ** min(retry, 30), self.retry_max_delay_seconds)
        return delay


class FinalSnapshots(ConfigModel):
    """Final snapshots of Redis workloads annotated redisbackup.io/final-snapshot, taken when they are deleted."""

    enabled: bool = True
    """Watch StatefulSets and Pods for the annotation (needs watch and finalizer rights on them)."""
    deadline_seconds: float = Field(default=900.0, gt=0)
    """How long a deleted workload waits for its final snapshot before it is released anyway."""


class Endpoint(ConfigModel):
    host: str = ""
    """Address to listen on; empty: every address of the Pod, IPv4 and IPv6 (so it is reachable on IPv4-only,
    IPv6-only and dual-stack clusters alike); 0.0.0.0 or :: for one family only."""
    port: int = Field(ge=0, le=65535)
    """Port to listen on; 0 turns the endpoint off."""


class OperatorConfig(ConfigModel):
    """Everything the operator is told by its administrator (the chart renders it from Helm values)."""

    storage: Storage = Field(default_factory=Storage)
    limits: Limits = Field(default_factory=Limits)
    final_snapshots: FinalSnapshots = Field(default_factory=FinalSnapshots)
    """Final snapshots of deleted Redis workloads (redisbackup.io/final-snapshot)."""
    namespaces: list[Annotated[str, StringConstraints(min_length=1, max_length=63)]] = Field(default_factory=list)
    """Namespaces whose RedisBackups this operator serves; empty: all of them."""
    metrics: Endpoint = Field(default_factory=lambda: Endpoint(port=8080))
    """Prometheus metrics at http://HOST:PORT/metrics."""
    health: Endpoint = Field(default_factory=lambda: Endpoint(port=8081))
    """Liveness probe at http://HOST:PORT/healthz."""

    def location(self, name: str | None) -> tuple[str, StorageLocation]:
        """The location named in a RedisBackup (or the default), with its name; KeyError when unknown."""
        chosen = name or self.storage.default_location
        return chosen, self.storage.locations[chosen]
