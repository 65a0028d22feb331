"""The RedisBackup API: pydantic models (the single source of truth for the CRD) and naming rules. No I/O.

- `spec`, `status`, `backup`: the models (`RedisBackupSpec`, `RedisBackupStatus`, `NodeSnapshot`, `Condition`,
  `RedisBackup`); `schedule_spec`, `schedule_status`, `schedule`: the RedisBackupSchedule's.
- `resource`: the resources' names (kinds, plurals, group and version), plain constants that import no model.
- `naming`: ElastiCache's naming rules, shared by the CRD, the webhook, the reconciler and `redisbackup validate`.
- `validation`: every admission rule as pure functions returning all `Violation`s.
- `crd`: the CRD generator (`make crds`).
"""
