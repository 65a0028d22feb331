"""Local processes the restore and verification paths run: a throwaway redis-server that loads a stored RDB, and
Redis's offline checker `redis-check-rdb`."""
