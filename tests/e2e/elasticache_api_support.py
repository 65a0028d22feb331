"""Running the real `aws` CLI (v1, from PyPI) against the ElastiCache API, as users do."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from kubernetes import client

from devstack.elasticache_api import Key, RunningApi

GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackups"


def aws(api: RunningApi, key: Key | None, *args: str, **env: str) -> tuple[int, Any, str]:
    """`aws elasticache ARGS…` with the API's endpoint and `key`: (exit code, parsed JSON stdout or None, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "elasticache", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **api.aws_env(key, **env)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    text = result.stdout.strip()
    document = json.loads(text) if text.startswith(("{", "[")) else None
    return result.returncode, document, result.stderr


def aws_text(api: RunningApi, key: Key, *args: str) -> str:
    """The text `aws elasticache ARGS…` prints (for --output text/table); fails on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "elasticache", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **api.aws_env(key)},
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return result.stdout


def error_line(code: str, operation: str) -> str:
    """The line aws prints for a service error (exit status 255)."""
    return f"An error occurred ({code}) when calling the {operation} operation: "


def create_backups(api: client.ApiClient, namespace: str, count: int, **spec: Any) -> list[str]:
    """`count` RedisBackups created directly (no operator needed to describe them), in creation order."""
    names = []
    objects = client.CustomObjectsApi(api)
    for index in range(count):
        name = f"page-{index:03d}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RedisBackup",
            "metadata": {"name": name},
            "spec": {"snapshotName": name, "cacheClusterId": "somewhere", **spec},
        }
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        names.append(name)
    return names
