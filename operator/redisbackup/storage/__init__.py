"""Object stores for snapshots: the ObjectStore protocol, FileStore (embedded default) and S3Store."""
