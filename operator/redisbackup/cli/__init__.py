"""The `redisbackup` command: one module per sub-command, each exposing `register(subparsers)`."""
