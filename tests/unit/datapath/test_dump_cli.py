"""`redisbackup dump` argument handling (the command itself runs against real servers in tests/e2e)."""

from __future__ import annotations

import pytest

from redisbackup.cli.dump import parse_redis_url
from redisbackup.cli.main import build_parser
from redisbackup.domain.faults import ValidationFault


@pytest.mark.parametrize(
    ("url", "host", "port", "username", "password", "tls"),
    [
        ("redis://10.0.0.5:6380", "10.0.0.5", 6380, None, None, False),
        ("redis://10.0.0.5", "10.0.0.5", 6379, None, None, False),
        ("10.0.0.5:7000", "10.0.0.5", 7000, None, None, False),
        ("redis://:s3cret@cache.example:6379", "cache.example", 6379, None, "s3cret", False),
        ("redis://backup:p%40ss@10.0.0.5:6379", "10.0.0.5", 6379, "backup", "p@ss", False),
        ("redis://onlypassword@10.0.0.5", "10.0.0.5", 6379, None, "onlypassword", False),
        ("rediss://backup:pw@[fd00::5]:6380", "fd00::5", 6380, "backup", "pw", True),
    ],
)
def test_redis_urls(url: str, host: str, port: int, username: str | None, password: str | None, tls: bool) -> None:
    address, credentials, rediss = parse_redis_url(url)
    assert (address.host, address.port, credentials.username, credentials.password, rediss) == (
        host, port, username, password, tls,
    )  # fmt: skip


def test_the_password_may_come_from_the_environment_like_redis_cli() -> None:
    _, credentials, _ = parse_redis_url("redis://backup@10.0.0.5:6379", password_env="from-env")
    assert (credentials.username, credentials.password) == ("backup", "from-env")


@pytest.mark.parametrize("url", ["http://10.0.0.5:6379", "redis://:6379", "redis://host:notaport"])
def test_bad_urls_name_the_option(url: str) -> None:
    with pytest.raises(ValidationFault, match="--redis"):
        parse_redis_url(url)


def test_credentials_never_show_in_their_repr() -> None:
    _, credentials, _ = parse_redis_url("redis://backup:hunter2@10.0.0.5")
    assert "hunter2" not in repr(credentials)


def test_dump_is_a_registered_command() -> None:
    args = build_parser().parse_args(["dump", "--redis", "redis://h:1", "--to", "file:///tmp/x", "--cluster"])
    assert args.handler.__module__ == "redisbackup.cli.dump"
    assert args.cluster is True


def test_the_progress_line_shows_bytes_total_and_rate() -> None:
    import io

    from redisbackup.cli.dump import ProgressLine

    out = io.StringIO()
    line = ProgressLine(out)
    line(3 << 20, 12 << 20)
    line(12 << 20, 12 << 20)
    line.close()
    text = out.getvalue()
    assert text.startswith("\r  3.0 MiB of 12.0 MiB")
    assert "\r  12.0 MiB of 12.0 MiB" in text
    assert "MiB/s" in text
    assert text.endswith("\n")


@pytest.mark.parametrize(
    ("name", "rule"),
    [("1st", "begin with an ASCII letter"), ("a--b", "two consecutive hyphens"), ("a" * 21, "longer than 20")],
)
def test_snapshot_names_follow_elasticache_rules_before_anything_is_contacted(name: str, rule: str) -> None:
    import asyncio

    from redisbackup.cli.dump import dump

    args = build_parser().parse_args(
        ["dump", "--redis", "redis://127.0.0.1:1", "--to", "file:///x", "--snapshot-name", name]
    )
    with pytest.raises(ValidationFault, match=rule) as caught:
        asyncio.run(dump(args, None))
    assert caught.value.field == "--snapshot-name"
    assert "--snapshot-name" in str(caught.value)
