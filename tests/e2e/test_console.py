"""The console in a real browser (Debian's chromium, driven by Playwright) on the real control plane, the real
operator and real redis-servers: the seed's console path end to end, found by role and label with its words —
Redis, Backup, Create Backup, Backup Name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from playwright.sync_api import expect

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.console import BACKUP_RULES, RunningConsole, user_token
from devstack.fixtures.operator import StartOperator, file_storage
from devstack.fixtures.redis import RedisFactory
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.console_support import backup_row, open_create_backup, redis_row, sign_in
from tests.e2e.operator_support import get

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def slow_node(redis_factory: RedisFactory) -> Topology:
    """A node that starts each snapshot 4 s after it is asked: long enough to see it snapshotting."""
    return redis_factory.standalone(extra={"repl-diskless-sync-delay": "4"})


@pytest.mark.smoke
def test_the_seeds_console_path_from_sign_in_to_an_available_backup(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    console: RunningConsole,
    namespace: str,
    slow_node: Topology,
    mirror: Mirror,
    tmp_path: Path,
    page: Any,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=file_storage(tmp_path / "store"))
    with slow_node.primary.client() as redis:
        redis_nodes.fill_mixed(redis, count=200)
    mirror.pods(slow_node, namespace, "mynonclusteredredis")
    sign_in(page, console, user_token(kube, namespace, "backup-user", BACKUP_RULES))

    # "From the navigation pane, choose Redis … Choose the box to the left of the name … Choose Backup."
    dialog = open_create_backup(page, "mynonclusteredredis-001")
    name = dialog.get_by_role("textbox", name="Backup Name")
    expect(name).to_be_focused()
    expect(name).to_have_value(re.compile(r"^mynonclu-\d{6}-\d{4}$"))  # the cluster and the date, as recommended
    create = dialog.get_by_role("button", name="Create Backup")
    expect(create).to_be_enabled()

    # An invalid name is refused as it is typed, with the webhook's own words.
    name.fill("bkup--20150515-")
    expect(dialog.get_by_text("spec.snapshotName cannot contain two consecutive hyphens")).to_be_visible()
    expect(dialog.get_by_text("spec.snapshotName cannot end with a hyphen")).to_be_visible()
    expect(create).to_be_disabled()
    expect(name).to_have_attribute("aria-invalid", "true")

    name.fill("bkup-20150515")
    expect(create).to_be_enabled()
    dialog.get_by_text("YAML that will be applied").click()
    expect(dialog.locator("#backup-yaml")).to_contain_text('snapshotName: "bkup-20150515"')
    expect(dialog.locator("#backup-yaml")).to_contain_text("cacheClusterId: mynonclusteredredis-001")
    create.click()

    # "The status of the cluster changes to snapshotting."
    expect(page.get_by_role("status")).to_contain_text("Creating backup bkup-20150515")
    expect(redis_row(page, "mynonclusteredredis-001")).to_contain_text("snapshotting", timeout=30_000)

    page.get_by_role("navigation").get_by_role("link", name="Backups", exact=True).click()
    page.evaluate("window.stayedOnThisPage = true")
    row = backup_row(page, "bkup-20150515")
    expect(row).to_contain_text("mynonclusteredredis-001")
    expect(row).to_contain_text("manual")
    # "When the status returns to available the backup is complete" — seen without reloading the page.
    expect(row).to_contain_text("available", timeout=90_000)
    assert page.evaluate("window.stayedOnThisPage") is True

    body = get(kube_api, namespace, "bkup-20150515")
    assert body is not None, operator.log_tail()
    assert body["spec"]["cacheClusterId"] == "mynonclusteredredis-001"
    assert body["status"]["phase"] == "available"
    assert int(body["status"]["nodeSnapshots"][0]["cacheSize"]) > 0
    page.get_by_role("navigation").get_by_role("link", name="Redis", exact=True).click()
    expect(redis_row(page, "mynonclusteredredis-001")).to_contain_text("available")
