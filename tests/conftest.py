"""Shared test configuration: the local stack's fixtures come from devstack.fixtures (one plugin per component)."""

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
