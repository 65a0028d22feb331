"""What the operator serves on its own ports: the admission webhook (HTTPS, with its certificates) and the
Prometheus metrics (HTTP). kopf serves the liveness probe (handlers.health says what it checks)."""
