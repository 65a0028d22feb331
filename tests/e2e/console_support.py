"""Walking the console in a browser as users do: by role and label, with the seed's words."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from devstack.console import RunningConsole


def sign_in(page: Any, console: RunningConsole, token: str) -> None:
    page.goto(console.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Redis clusters")).to_be_visible()


def redis_row(page: Any, name: str) -> Any:
    return page.get_by_role("row", name=re.compile(rf"\b{re.escape(name)}\b"))


def backup_row(page: Any, name: str) -> Any:
    return page.get_by_role("row", name=re.compile(rf"^{re.escape(name)}\b"))


def open_create_backup(page: Any, cluster: str) -> Any:
    """Redis → tick the box left of `cluster` → Backup: the Create Backup dialog."""
    page.get_by_role("navigation").get_by_role("link", name="Redis", exact=True).click()
    page.get_by_role("checkbox", name=re.compile(re.escape(cluster))).check()
    page.get_by_role("button", name="Backup", exact=True).click()
    dialog = page.get_by_role("dialog", name="Create Backup")
    expect(dialog).to_be_visible()
    return dialog
