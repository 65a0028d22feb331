"""The RedisBackup API: pydantic models (the single source of truth for the CRD) and naming rules. No I/O.

- `spec`, `status`, `resource`: the models (`RedisBackupSpec`, `RedisBackupStatus`, `NodeSnapshot`, `Condition`,
  `RedisBackup`) and the resource's names.
- `naming`: ElastiCache's naming rules, shared by the CRD, the webhook, the reconciler and `redisbackup validate`.
- `validation`: every admission rule as pure functions returning all `Violation`s.
- `crd`: the CRD generator (`make crds`).
"""
