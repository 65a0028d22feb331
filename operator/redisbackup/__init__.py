"""redisbackup: ElastiCache-style manual backups (snapshots) for Redis on Kubernetes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("redisbackup")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

GROUP = "redisbackup.io"
VERSION = "v1alpha1"
