"""Malformed AdmissionReviews are refused with a 400 before kopf sees them (kopf would answer 500 with a traceback)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from redisbackup.servers.admission_review import checked, review_problem


def review(**request: Any) -> dict[str, Any]:
    base = {
        "uid": "1",
        "operation": "CREATE",
        "kind": {"kind": "RedisBackup"},
        "resource": {"resource": "redisbackups"},
        "userInfo": {"username": "u"},
        "object": {"metadata": {"name": "x"}},
    }
    return {"request": {**base, **request}}


def test_a_well_formed_review_passes() -> None:
    assert review_problem(review()) is None
    assert review_problem(review(object=None, oldObject={"metadata": {}})) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "the body is a JSON list"),
        ({"request": 5}, "request is missing or not an object"),
        (review(object=[]), "request.object is not an object"),
        (review(userInfo="root"), "request.userInfo is not an object"),
        (review(uid=7), "request.uid is not a string"),
        (review(object={"metadata": "x"}), "metadata is not an object"),
    ],
)
def test_a_malformed_review_is_named(body: Any, problem: str) -> None:
    assert problem in (review_problem(body) or "")


async def test_kopf_never_sees_a_malformed_review_and_the_answer_is_a_400() -> None:
    seen: list[Any] = []

    async def kopf_entry(data: Any, **_: Any) -> dict[str, Any]:
        seen.append(data)
        return {"response": {"allowed": True}}

    serve = checked(kopf_entry)  # type: ignore[arg-type]
    with pytest.raises(web.HTTPBadRequest) as refused:
        await serve([], webhook="validate-redisbackup")  # type: ignore[call-arg]
    assert refused.value.status == 400
    assert "the body is a JSON list" in (refused.value.text or "")
    assert seen == []
    assert await serve(review(), webhook="validate-redisbackup") == {"response": {"allowed": True}}  # type: ignore[call-arg]
