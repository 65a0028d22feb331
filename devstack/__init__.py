"""The local stack for tests and `make demo`: a real control plane, real redis-server nodes, a real S3 server.

Nothing here ships in the operator; it is importable from the repository root (pytest puts it on the path).
"""
