"""Async access to Redis nodes: topology discovery and RDB streaming over the replication protocol."""
