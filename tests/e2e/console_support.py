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


def focused(page: Any) -> str:
    """What has the keyboard focus: its accessible label, text or id."""
    return str(
        page.evaluate(
            """() => { const e = document.activeElement;
                return e ? (e.getAttribute('aria-label') || e.textContent.trim() || e.id || e.tagName) : ''; }"""
        )
    )


def tab_to(page: Any, wanted: str, *, backwards: bool = False, limit: int = 60) -> None:
    """Press Tab (or Shift+Tab) until the focused element is `wanted`; fail if it never is."""
    seen = []
    for _ in range(limit):
        if focused(page) == wanted:
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        seen.append(focused(page))
    raise AssertionError(f"{wanted!r} never took the focus; Tab went through {seen}")


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page (axe shipped in the axe-playwright-python package: no CDN)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results.response["violations"]
    ]
