"""The RedisBackup API: pydantic models (the single source of truth for the CRD) and naming rules. No I/O."""
