"""Kubernetes access: resolving sources, reading Secrets, status patches, events, webhook configuration.

Every call goes through `k8s.api` (JSON, a request timeout, errors as `k8s.faults`)."""
