"""Malformed AdmissionReviews are refused with a 400 before kopf sees them (kopf would answer 500 with a traceback)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from redisbackup.servers.admission_review import application, checked, review_problem


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


@pytest.mark.parametrize(
    ("refusal", "status"),
    [("MissingDataError", 400), ("UnknownResourceError", 404), ("AmbiguousResourceError", 409)],
)
async def test_kopfs_refusals_of_a_review_are_client_errors_not_500s(refusal: str, status: int) -> None:
    """Our server speaks kopf's public protocol; kopf's admission entry point refuses reviews it cannot route with
    exceptions it does not export. Should kopf rename them, this fails (they would turn into 500s)."""
    from aiohttp.test_utils import TestClient, TestServer
    from kopf._core.engines import admission as kopf_admission

    async def kopf_entry(data: Any, **_: Any) -> dict[str, Any]:
        raise getattr(kopf_admission, refusal)("cannot route this review")

    async with TestClient(TestServer(application(kopf_entry))) as client:  # type: ignore[arg-type]
        response = await client.post("/validate-redisbackup", json=review())
        assert response.status == status
        assert "cannot route this review" in await response.text()


async def test_the_handler_is_named_by_the_path_and_gets_the_callers_headers() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    calls: list[dict[str, Any]] = []

    async def kopf_entry(data: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {"response": {"uid": data["request"]["uid"], "allowed": True}}

    async with TestClient(TestServer(application(kopf_entry))) as client:  # type: ignore[arg-type]
        response = await client.post("/validate-redisbackup", json=review(), headers={"X-Caller": "apiserver"})
        assert response.status == 200
        assert (await response.json())["response"]["allowed"] is True
    (kwargs,) = calls
    assert kwargs["webhook"] == "validate-redisbackup"
    assert kwargs["headers"]["X-Caller"] == "apiserver"
    assert "sslpeer" in kwargs
