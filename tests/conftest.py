"""Shared test configuration: the local stack's fixtures come from devstack.fixtures (one plugin per component)."""

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "devstack.fixtures.redis",
    "devstack.fixtures.s3",
    "devstack.fixtures.kube",
    "devstack.fixtures.operator",
    "devstack.fixtures.node",
    "devstack.fixtures.elasticache_api",
    "devstack.fixtures.console",
    # start_scene: the operator e2e tests' shared set-up (an operator for the test's namespace, and its steps).
    "tests.e2e.operator_support",
]

# These machines are shared and noisy: a property test's example that takes longer than hypothesis's default 200 ms
# deadline there is load, not a defect (timing is measured by the benchmarks, never asserted by tests).
settings.register_profile("shared-machines", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machines")
