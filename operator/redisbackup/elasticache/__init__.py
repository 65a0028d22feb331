"""ElastiCache's operations on Redis on Kubernetes, once, for every face (DESIGN.md §10).

    create_snapshot  copy_snapshot  describe_snapshots  delete_snapshot      (snapshots: RedisBackups)
    describe_cache_clusters  describe_replication_groups                    (the Redis workloads)
    list_tags  add_tags  remove_tags                                         (on ARNs)

Each takes a `Caller`: a Kubernetes API client made for whoever is calling — the `redisbackup` CLI's kubeconfig,
an access key's impersonated identity, a signed-in user of the console — and works in the caller's namespace
with the caller's rights only, so the apiserver's RBAC decides what each may do. The answers are ElastiCache's
documents (`{"Snapshot": {…}}`, `{"CacheClusters": […]}` …, field names as the service model's), which each face
renders its own way (JSON and tables in the CLI, XML in the Query API); the faults are ElastiCache's, typed.
"""
