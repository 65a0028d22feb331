"""Pure logic: fault types, plans, status transitions, storage layout and manifests. No I/O."""
