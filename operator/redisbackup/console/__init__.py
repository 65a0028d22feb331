"""The console: the seed's Redis and Backups pages in a browser, on the core of `redisbackup.elasticache`."""
