"""kopf wiring only: settings and the registration of handler modules."""
