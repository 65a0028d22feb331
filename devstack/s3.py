"""A real S3-compatible server for tests, benchmarks and `make demo`: SeaweedFS (`weed mini`) on loopback.

One `weed mini` process runs master, volume server, filer and the S3 gateway, all bound to 127.0.0.1 on free
ports (none of SeaweedFS's fixed defaults), with data in a temporary directory. S3 requests must be signed: a
static identity (access key + secret) is written to an s3 identities JSON file, so boto3 signs with SigV4 as it
would against AWS. Startup is done when a bucket can be created: the last piece (volume assignment) is only
ready then.

    server = start_seaweedfs(base_dir)
    server.create_bucket("b"); server.client().put_object(Bucket="b", Key="k", Body=b"x")
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

from devstack.binaries import tool
from devstack.net import free_port
from devstack.processes import Process

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HOST = "127.0.0.1"
REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    data_dir: Path
    process: Process
    region: str = REGION

    def client(self, **config: Any) -> S3Client:
        """A boto3 client signed with the static identity; `config` adds botocore Config options."""
        options: dict[str, Any] = {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "s3": {"addressing_style": "path"},
            "retries": {"mode": "standard", "max_attempts": 3},
        }
        options.update(config)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=botocore.config.Config(**options),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def delete_bucket(self, name: str) -> None:
        """Empty the bucket (objects and unfinished uploads), then delete it."""
        client = self.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        client.delete_bucket(Bucket=name)

    def env(self) -> dict[str, str]:
        """Environment variables that point the AWS SDKs and CLIs (and `redisbackup dump`) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def stop(self) -> None:
        self.process.stop()


def _identities(access_key: str, secret_key: str) -> dict[str, Any]:
    return {
        "identities": [
            {
                "name": "redisbackup-devstack",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }


def start_seaweedfs(base_dir: Path, *, timeout: float = 90.0, host: str = HOST) -> S3Server:
    """Start SeaweedFS with its S3 gateway on `host` (127.0.0.1, or the host's end of a real node's link, where
    Pods reach it: devstack.node); return once a bucket can be created."""
    data_dir = base_dir / "seaweedfs"
    data_dir.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = f"devstack{secrets.token_hex(4)}", secrets.token_hex(20)
    config = data_dir / "s3-identities.json"
    config.write_text(json.dumps(_identities(access_key, secret_key), indent=2))
    config.chmod(0o600)

    def ports(name: str) -> list[str]:
        # gRPC ports default to http port + 10000, which may be taken or above 65535: pick both.
        return [f"-{name}.port={free_port(host)}", f"-{name}.port.grpc={free_port(host)}"]

    s3_port = free_port(host)
    # `weed mini` is SeaweedFS's all-in-one mode (master, volume server, filer, S3, admin). With a single master
    # (-master.peers=none) it skips the multi-master safety waits that make `weed server` take 10+ s to accept
    # its first write; here it is ready in about 5 s.
    argv = [
        str(tool("weed")),
        "mini",
        f"-ip={host}",
        f"-ip.bind={host}",
        f"-dir={data_dir}",
        *ports("master"),
        "-master.peers=none",
        "-master.telemetry=false",
        *ports("volume"),
        *ports("filer"),
        f"-filer.localSocket={data_dir}/filer.sock",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={free_port(host)}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-s3.localSocket={data_dir}/s3.sock",
        "-webdav=false",
        "-admin.ui=false",
        *ports("admin"),
        "-admin.port.legacy=0",
    ]
    process = Process("seaweedfs", argv, log_dir=base_dir / "logs", cwd=data_dir)
    server = S3Server(
        endpoint_url=f"http://{host}:{s3_port}",
        access_key=access_key,
        secret_key=secret_key,
        data_dir=data_dir,
        process=process,
    )
    probe = f"ready-{secrets.token_hex(4)}"

    def can_create_a_bucket() -> bool:
        client = server.client(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
        try:
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="probe", Body=b"ok")
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return False
        server.delete_bucket(probe)
        return True

    try:
        process.wait_ready(can_create_a_bucket, timeout=timeout, what=f"serving S3 at {server.endpoint_url}")
    except BaseException:
        process.stop()
        raise
    return server
