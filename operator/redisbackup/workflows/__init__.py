"""Use cases that combine the I/O layers: take a snapshot, delete one, restore, verify.

Both the operator's handlers and the CLI call these, so the operator and `redisbackup dump` share one data path.
"""
