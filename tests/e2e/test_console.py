"""The console in a real browser (Debian's chromium, driven by Playwright) on the real control plane, the real
operator and real redis-servers: the seed's console path end to end, found by role and label with its words —
Redis, Backup, Create Backup, Backup Name."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from playwright.sync_api import expect

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.console import BACKUP_RULES, VIEW_RULES, RunningConsole, user_token
from devstack.fixtures.operator import StartOperator, file_storage
from devstack.fixtures.redis import RedisFactory
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.console_support import axe_violations, backup_row, open_create_backup, redis_row, sign_in, tab_to
from tests.e2e.operator_support import get, wait_gone

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
    # A one-Pod StatefulSet, as charts run a node: the operator marks the StatefulSet while it snapshots it.
    mirror.statefulset(slow_node, namespace, "mynonclusteredredis")
    sign_in(page, console, user_token(kube, namespace, "backup-user", BACKUP_RULES))

    # "From the navigation pane, choose Redis … Choose the box to the left of the name … Choose Backup."
    dialog = open_create_backup(page, "mynonclusteredredis")
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
    expect(dialog.locator("#backup-yaml")).to_contain_text('cacheClusterId: "mynonclusteredredis"')
    create.click()

    # "The status of the cluster changes to snapshotting."
    expect(page.get_by_role("status")).to_contain_text("Creating backup bkup-20150515")
    expect(redis_row(page, "mynonclusteredredis")).to_contain_text("snapshotting", timeout=30_000)

    page.get_by_role("navigation").get_by_role("link", name="Backups", exact=True).click()
    page.evaluate("window.stayedOnThisPage = true")
    row = backup_row(page, "bkup-20150515")
    expect(row).to_contain_text("mynonclusteredredis")
    expect(row).to_contain_text("manual")
    # "When the status returns to available the backup is complete" — seen without reloading the page.
    expect(row).to_contain_text("available", timeout=90_000)
    assert page.evaluate("window.stayedOnThisPage") is True

    body = get(kube_api, namespace, "bkup-20150515")
    assert body is not None, operator.log_tail()
    assert body["spec"]["cacheClusterId"] == "mynonclusteredredis"
    assert body["status"]["phase"] == "available"
    assert int(body["status"]["nodeSnapshots"][0]["cacheSize"]) > 0
    page.get_by_role("navigation").get_by_role("link", name="Redis", exact=True).click()
    expect(redis_row(page, "mynonclusteredredis")).to_contain_text("available")


def available_backup(kube: Cluster, namespace: str, name: str, cluster: str) -> None:
    """A RedisBackup made with kubectl, as any other face would, waited for until available."""
    kube.kubectl(
        "apply", "-n", namespace, "-f", "-",
        input=(
            "apiVersion: redisbackup.io/v1alpha1\nkind: RedisBackup\n"
            f"metadata:\n  name: {name}\nspec:\n  snapshotName: {name}\n  cacheClusterId: {cluster}\n"
        ),
    )  # fmt: skip
    kube.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.phase}=available", "--timeout=90s", f"rb/{name}")


@pytest.fixture
def node(kube: Cluster, start_operator: StartOperator, namespace: str, redis_factory: RedisFactory, mirror: Mirror,
         tmp_path: Path) -> str:  # fmt: skip
    """A Redis node with data, mirrored as Pod `shop-001` of the test's namespace, and the operator serving it."""
    start_operator(namespaces=[namespace], storage=file_storage(tmp_path / "store"))
    topology = redis_factory.standalone()
    with topology.primary.client() as redis:
        redis_nodes.fill_mixed(redis, count=100)
    mirror.pods(topology, namespace, "shop")
    return "shop-001"


@pytest.mark.slow
def test_deleting_a_backup_asks_for_its_name_and_removes_it_from_the_list_and_the_cluster(
    kube: Cluster, kube_api: client.ApiClient, console: RunningConsole, namespace: str, node: str, page: Any
) -> None:
    available_backup(kube, namespace, "old-baseline", node)
    sign_in(page, console, user_token(kube, namespace, "backup-user", BACKUP_RULES))
    page.get_by_role("navigation").get_by_role("link", name="Backups", exact=True).click()
    page.get_by_role("link", name="old-baseline", exact=True).click()
    expect(page.get_by_role("heading", name="Backup old-baseline")).to_be_visible()
    page.get_by_role("link", name="Delete", exact=True).click()

    dialog = page.get_by_role("dialog", name="Delete backup old-baseline")
    confirm = dialog.get_by_role("textbox", name="Type old-baseline to confirm")
    delete = dialog.get_by_role("button", name="Delete", exact=True)
    confirm.fill("old-baselin")
    expect(delete).to_be_disabled()
    confirm.fill("old-baseline")
    delete.click()

    expect(page.get_by_role("status").first).to_contain_text("Deleting backup old-baseline")
    expect(backup_row(page, "old-baseline")).to_have_count(0, timeout=60_000)  # gone live, as the operator releases it
    wait_gone(kube_api, namespace, "old-baseline")


@pytest.mark.slow
def test_copying_a_backup_makes_an_independent_one_that_becomes_available(
    kube: Cluster, kube_api: client.ApiClient, console: RunningConsole, namespace: str, node: str, page: Any
) -> None:
    available_backup(kube, namespace, "baseline", node)
    sign_in(page, console, user_token(kube, namespace, "backup-user", BACKUP_RULES))
    page.goto(f"{console.url}backups/{namespace}/baseline")
    page.get_by_role("link", name="Copy", exact=True).click()
    dialog = page.get_by_role("dialog", name="Copy backup baseline")
    name = dialog.get_by_role("textbox", name="New Backup Name")
    name.fill("9-lives")
    expect(dialog.get_by_text("spec.snapshotName must begin with an ASCII letter")).to_be_visible()
    name.fill("baseline-copy")
    dialog.get_by_role("button", name="Copy", exact=True).click()

    expect(page.get_by_role("status").first).to_contain_text("Copying into backup baseline-copy")
    row = backup_row(page, "baseline-copy")
    expect(row).to_contain_text("copy of baseline")
    expect(row).to_contain_text("available", timeout=90_000)
    copy = get(kube_api, namespace, "baseline-copy")
    assert copy is not None
    assert copy["spec"]["sourceSnapshotName"] == "baseline"
    original = get(kube_api, namespace, "baseline")
    assert original is not None
    assert copy["status"]["nodeSnapshots"][0]["sha256"] == original["status"]["nodeSnapshots"][0]["sha256"]

    # Verify: the operator loads the copy into a throwaway redis-server and records what it found.
    row.get_by_role("link", name="baseline-copy").click()
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Verification requested")
    verification = page.get_by_role("region", name="Verification")
    for _ in range(60):
        if "passed" in verification.inner_text():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(verification).to_contain_text("passed")
    expect(verification).to_contain_text("Keys loaded")
    verified = get(kube_api, namespace, "baseline-copy")
    assert verified is not None
    assert verified["status"]["verification"]["result"] == "Passed"


@pytest.mark.slow
def test_a_user_whose_rbac_forbids_creating_is_refused_with_the_apiservers_reason(
    kube: Cluster, kube_api: client.ApiClient, console: RunningConsole, namespace: str, node: str, page: Any
) -> None:
    sign_in(page, console, user_token(kube, namespace, "viewer", VIEW_RULES))
    dialog = open_create_backup(page, node)
    dialog.get_by_role("textbox", name="Backup Name").fill("not-allowed")
    dialog.get_by_role("button", name="Create Backup").click()

    dialog = page.get_by_role("dialog", name="Create Backup")
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("The backup was not created")
    expect(alert).to_contain_text(
        f'User "system:serviceaccount:{namespace}:viewer" cannot create resource "redisbackups" in API group '
        f'"redisbackup.io" in the namespace "{namespace}"'
    )
    expect(alert).to_be_focused()
    assert get(kube_api, namespace, "not-allowed") is None


@pytest.mark.slow
def test_the_whole_path_works_from_the_keyboard_alone(
    kube: Cluster, kube_api: client.ApiClient, console: RunningConsole, namespace: str, node: str, page: Any
) -> None:
    page.goto(console.url)
    expect(page.get_by_label("Token")).to_be_focused()
    page.keyboard.type(user_token(kube, namespace, "backup-user", BACKUP_RULES))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Redis clusters")).to_be_visible()

    tab_to(page, f"Select {node}")
    page.keyboard.press("Space")
    tab_to(page, "Backup", backwards=True)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create Backup")
    expect(dialog.get_by_role("textbox", name="Backup Name")).to_be_focused()
    page.keyboard.press("Escape")  # cancels: back to the list
    expect(dialog).to_have_count(0)

    tab_to(page, f"Select {node}")
    page.keyboard.press("Space")
    tab_to(page, "Backup", backwards=True)
    page.keyboard.press("Enter")
    page.keyboard.press("Control+A")
    page.keyboard.type("by--keyboard")
    expect(dialog.get_by_text("cannot contain two consecutive hyphens")).to_be_visible()
    page.keyboard.press("Backspace")
    page.keyboard.press("Control+A")
    page.keyboard.type("by-keyboard")
    tab_to(page, "Create Backup")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("Creating backup by-keyboard", timeout=30_000)
    kube.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.phase}=available", "--timeout=90s", "rb/by-keyboard")


@pytest.mark.slow
def test_every_page_passes_axe_and_restore_shows_a_statefulset_the_apiserver_accepts(
    kube: Cluster, console: RunningConsole, namespace: str, node: str, page: Any
) -> None:
    available_backup(kube, namespace, "baseline", node)
    page.goto(console.url)
    assert axe_violations(page) == []
    sign_in(page, console, user_token(kube, namespace, "backup-user", BACKUP_RULES))
    assert axe_violations(page) == []
    dialog = open_create_backup(page, node)
    dialog.get_by_role("textbox", name="Backup Name").fill("bad--name")
    assert axe_violations(page) == []
    page.goto(f"{console.url}backups")
    expect(backup_row(page, "baseline")).to_contain_text("available")
    assert axe_violations(page) == []
    page.get_by_role("link", name="baseline", exact=True).click()
    assert axe_violations(page) == []
    page.get_by_role("link", name="Restore", exact=True).click()
    assert axe_violations(page) == []

    restore_yaml = page.locator("#restore-yaml").inner_text()
    assert "kind: StatefulSet" in restore_yaml
    assert "--snapshot-name=baseline" in restore_yaml
    dry_run = kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=restore_yaml, check=False)
    assert dry_run.returncode == 0, dry_run.stderr
    assert "statefulset.apps/baseline-restored created (server dry run)" in dry_run.stdout


SCREENSHOTS = ("sign-in", "redis", "create-backup", "backups", "backup-details", "restore", "copy", "delete")


@pytest.mark.slow
def test_screenshots_of_each_page(
    kube: Cluster, console: RunningConsole, namespace: str, node: str, page: Any, tmp_path: Path
) -> None:
    """What the README shows (`make screenshots` writes them to docs/console/): every page, as a user sees it."""
    where = Path(os.environ.get("REDISBACKUP_SCREENSHOTS_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    for name in ("nightly", "before-upgrade"):
        available_backup(kube, namespace, name, node)

    def shoot(name: str) -> None:
        page.screenshot(path=where / f"{name}.png", full_page=False)

    page.goto(console.url)
    shoot("sign-in")
    sign_in(page, console, user_token(kube, namespace, "backup-user", BACKUP_RULES))
    shoot("redis")
    dialog = open_create_backup(page, node)
    dialog.get_by_role("textbox", name="Backup Name").fill("shop--baseline")
    dialog.get_by_text("YAML that will be applied").click()
    shoot("create-backup")
    page.goto(f"{console.url}backups?namespace={namespace}")
    expect(backup_row(page, "nightly")).to_contain_text("available")
    shoot("backups")
    page.get_by_role("link", name="nightly", exact=True).click()
    shoot("backup-details")
    page.get_by_role("link", name="Restore", exact=True).click()
    shoot("restore")
    page.goto(f"{console.url}backups/{namespace}/nightly/copy")
    shoot("copy")
    page.goto(f"{console.url}backups/{namespace}/nightly/delete")
    page.get_by_role("textbox", name="Type nightly to confirm").fill("nightly")
    shoot("delete")
    for name in SCREENSHOTS:
        image = (where / f"{name}.png").read_bytes()
        assert image.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert int.from_bytes(image[16:20], "big") == 1280, name  # the viewport's width: a real page, not a blank
