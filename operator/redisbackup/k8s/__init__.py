"""Kubernetes access: resolving sources, reading Secrets, status patches, events, webhook configuration."""
