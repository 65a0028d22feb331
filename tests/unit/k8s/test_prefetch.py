"""The first listing's pages fetched while the operator starts (k8s.prefetch), for the informer's first listing."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from redisbackup.k8s import prefetch


def page(index: int, last: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": "7"}
    if index < last:
        metadata.update({"continue": f"token-{index + 1}", "remainingItemCount": last - index})
    items = [{"metadata": {"name": f"b{index}", "uid": f"u{index}", "annotations": {"continue": "not this one"}}}]
    return {"apiVersion": "redisbackup.io/v1alpha1", "items": items, "kind": "RedisBackupList", "metadata": metadata}


def raw(index: int, last: int) -> bytes:
    return json.dumps(page(index, last), separators=(",", ":")).encode()  # as the apiserver writes it


def index_of(token: str | None) -> int:
    return 0 if token is None else int(token.removeprefix("token-"))


def test_the_continue_token_is_read_from_the_lists_metadata_alone() -> None:
    assert prefetch._continue_token(raw(0, 3)) == "token-1"
    assert prefetch._continue_token(raw(3, 3)) is None
    assert prefetch._continue_token(b"not json") is None


def fetched_ahead(last: int, *, fail_at: int | None = None, limit: int = 2) -> tuple[prefetch._Pages, list[int]]:
    asked: list[int] = []

    def get(token: str | None) -> bytes:
        asked.append(index_of(token))
        if index_of(token) == fail_at:
            raise ConnectionError("the apiserver went away")
        return raw(index_of(token), last)

    pages = prefetch._Pages("team", limit)
    thread = threading.Thread(target=pages.fetch, args=(get,))
    thread.start()
    thread.join(5)
    return pages, asked


def listing(lister: prefetch.Lister) -> list[str]:
    """What the informer does: every page, following the continue tokens."""
    names, token = [], None
    while True:
        body: Mapping[str, Any] = lister(token)
        names += [item["metadata"]["name"] for item in body["items"]]
        token = body["metadata"].get("continue")
        if not token:
            return names


def test_the_first_listing_takes_the_pages_fetched_ahead_and_later_ones_are_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages, asked = fetched_ahead(3)
    assert asked == [0, 1, 2, 3]
    monkeypatch.setitem(prefetch._started, ("team", 2), pages)
    fetched: list[int] = []

    def fetch(token: str | None) -> Mapping[str, Any]:
        fetched.append(index_of(token))
        return page(index_of(token), 3)

    lister = prefetch.lister("team", 2, fetch)
    assert listing(lister) == ["b0", "b1", "b2", "b3"]
    assert fetched == [], "every page came from the prefetch"
    assert pages.pages == {}, "each page is dropped once handed over"
    assert listing(lister) == ["b0", "b1", "b2", "b3"]
    assert fetched == [0, 1, 2, 3], "a second listing (410, peering) lists afresh"
    assert prefetch.lister("elsewhere", 2, fetch) is fetch, "nothing was fetched ahead for another scope"


def test_pages_the_prefetch_did_not_fetch_are_listed_by_the_informer(monkeypatch: pytest.MonkeyPatch) -> None:
    pages, asked = fetched_ahead(3, fail_at=2)
    assert asked == [0, 1, 2]
    monkeypatch.setitem(prefetch._started, ("team", 2), pages)
    fetched: list[int] = []

    def fetch(token: str | None) -> Mapping[str, Any]:
        fetched.append(index_of(token))
        return page(index_of(token), 3)

    assert listing(prefetch.lister("team", 2, fetch)) == ["b0", "b1", "b2", "b3"]
    assert fetched == [2, 3], "the informer went on from the last page fetched ahead"


def test_a_cap_stops_the_fetching_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefetch, "MAX_BYTES", len(raw(0, 9)) * 2)
    _pages, asked = fetched_ahead(9)
    assert asked == [0, 1]


def test_the_informer_waits_for_a_page_being_fetched() -> None:
    release = threading.Event()

    def get(token: str | None) -> bytes:
        if index_of(token) == 1:
            release.wait(5)
        return raw(index_of(token), 1)

    pages = prefetch._Pages(None, 2)
    threading.Thread(target=pages.fetch, args=(get,), daemon=True).start()
    threading.Timer(0.2, release.set).start()

    def fetch(token: str | None) -> Mapping[str, Any]:
        raise AssertionError("fetched again")

    prefetch._started[(None, 2)] = pages
    try:
        assert listing(prefetch.lister(None, 2, fetch)) == ["b0", "b1"]
    finally:
        del prefetch._started[(None, 2)]
