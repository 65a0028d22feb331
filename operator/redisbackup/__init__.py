"""redisbackup: ElastiCache-style manual backups (snapshots) for Redis on Kubernetes."""

from __future__ import annotations

import functools

GROUP = "redisbackup.io"
VERSION = "v1alpha1"


@functools.cache
def _installed_version() -> str:
    # importlib.metadata scans every installed distribution: about a third of `redisbackup --help`'s start-up,
    # so it runs only when the version is asked for.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("redisbackup")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
