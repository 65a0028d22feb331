"""The HTTPS server of the user-facing faces: the ElastiCache Query API (and, later, the console), `redisbackup
serve`. It runs apart from the operator: its own Deployment and ServiceAccount, whose only right is to act as the
callers (impersonation), so the operator's ServiceAccount never holds that right and a bug here cannot use the
operator's."""
