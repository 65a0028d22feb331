"""The command line of restore and of the aws twins: arguments, exit codes, output formats."""

from __future__ import annotations

import pytest

from redisbackup.cli import commands
from redisbackup.cli.create_snapshot import backup_body, parse_tags
from redisbackup.cli.main import build_parser, main
from redisbackup.cli.render import render
from redisbackup.cli.restore import chosen_node
from redisbackup.cli.restore_cluster import parse_nodes
from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.source import NodeAddress
from tests.unit.restore.support import manifest, record


def test_every_command_module_is_registered_once() -> None:
    assert len(set(commands.COMMAND_MODULES)) == len(commands.COMMAND_MODULES)
    build_parser()  # argparse refuses a sub-command registered twice


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["create-snapshot", "--snapshot-name", "x"], 252),  # aws: an invalid command line
        (["describe-snapshots", "--bogus"], 252),
        (["restore", "--to-dir", "/d", "--bogus"], 2),
    ],
)
def test_usage_errors_exit_like_aws_for_its_twins_and_like_unix_for_the_rest(argv: list[str], code: int) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == code


def test_tags_take_awss_shorthand_and_json() -> None:
    assert parse_tags(["Key=team,Value=payments", "Key=env,Value=prod"]) == {"team": "payments", "env": "prod"}
    assert parse_tags(['[{"Key": "a", "Value": "1"}]']) == {"a": "1"}
    assert parse_tags(None) is None
    with pytest.raises(ValidationFault, match="Key=NAME,Value=VALUE"):
        parse_tags(["team=payments"])


def test_create_snapshot_writes_the_redisbackup_a_user_would() -> None:
    args = build_parser().parse_args(
        [
            "create-snapshot", "--snapshot-name", "Bkup-20150515", "--cache-cluster-id", "myNonClusteredRedis-001",
            "--auth-secret", "redis-auth", "--tls-ca-secret", "redis-tls/ca.pem", "--tags", "Key=team,Value=a",
            "--deletion-policy", "Retain", "--verify",
        ]
    )  # fmt: skip
    assert backup_body(args) == {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {"name": "bkup-20150515"},
        "spec": {
            "snapshotName": "Bkup-20150515",
            "cacheClusterId": "myNonClusteredRedis-001",
            "auth": {"secretRef": {"name": "redis-auth", "key": "password"}},
            "tls": {"enabled": True, "caSecretRef": {"name": "redis-tls", "key": "ca.pem"}},
            "deletionPolicy": "Retain",
            "verify": True,
            "tags": {"team": "a"},
        },
    }


def test_nodes_are_host_port_lists() -> None:
    assert parse_nodes("10.0.0.1:7000, redis-1.redis:6379,[::1]:7001,host") == [
        NodeAddress("10.0.0.1", 7000),
        NodeAddress("redis-1.redis", 6379),
        NodeAddress("::1", 7001),
        NodeAddress("host", 6379),
    ]
    for bad in ("", "h:port", "user@h:1"):
        with pytest.raises(ValidationFault):
            parse_nodes(bad)


def test_node_group_auto_follows_the_pod_ordinal(monkeypatch: pytest.MonkeyPatch) -> None:
    shards = manifest(
        record(cache_node_id=None, node_group_id="0001", slots="0-8191"),
        record(cache_node_id=None, node_group_id="0002", slots="8192-16383"),
        clustered=True,
    )
    for pod, expected in (("redis-0", "0001"), ("redis-1", "0002"), ("redis-2", ""), ("redis-cluster-13", "")):
        monkeypatch.setenv("POD_NAME", pod)
        assert chosen_node(shards, "auto") == expected
    assert chosen_node(manifest(), "auto") is None  # a single node's snapshot needs no choice
    monkeypatch.setenv("POD_NAME", "standalone")
    with pytest.raises(ValidationFault, match="does not end in an ordinal"):
        chosen_node(shards, "auto")


def test_the_three_output_formats() -> None:
    document = {"Snapshot": {"SnapshotName": "n", "Port": 6379, "NodeSnapshots": [{"CacheNodeId": "0001"}]}}
    assert render(document, "json", title="CreateSnapshot").splitlines()[1] == '    "Snapshot": {'
    assert render(document, "yaml", title="CreateSnapshot") == (
        "Snapshot:\n  SnapshotName: n\n  Port: 6379\n  NodeSnapshots:\n  - CacheNodeId: '0001'"
    )
    table = render(document, "table", title="CreateSnapshot").splitlines()
    assert len({len(line) for line in table}) == 1, "every line of the table has the same width"
    assert [line.strip("|+- ") for line in table if line.strip("|+- ")] == [
        "CreateSnapshot",
        "Snapshot",
        "SnapshotName |  n",
        "Port         |  6379",
        "NodeSnapshots",
        "CacheNodeId |  0001",
    ]


def test_every_command_in_the_table_is_registered_by_its_module() -> None:
    parser = build_parser()
    registered = next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    assert list(registered) == list(commands.COMMANDS)
    for name in commands.COMMANDS:  # the lazy parser registers the module of the chosen command only
        chosen = next(a for a in build_parser(name)._actions if a.dest == "command").choices  # type: ignore[attr-defined]
        assert chosen[name].get_default("handler") is not None, name


def test_a_chosen_command_parses_alone_and_a_typo_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    chosen = next(a for a in build_parser("validate")._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    assert list(chosen) == ["validate"]  # no placeholder parsers for the others: start-up time
    with pytest.raises(SystemExit):
        main(["valdate", "x.yaml"])
    every = ", ".join(map(repr, commands.COMMANDS))
    assert f"invalid choice: 'valdate' (choose from {every})" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "unwanted"),
    [
        (["--help"], {"pydantic", "yaml", "kubernetes", "kopf", "boto3", "redis", "aiohttp"}),
        (["validate", "--help"], {"kubernetes", "kopf", "boto3", "redis", "aiohttp"}),
        # The official Kubernetes client (~1 s to import) is left to commands that need more than custom objects.
        (["describe-snapshots", "--help"], {"kubernetes", "kopf", "boto3", "redis", "aiohttp", "cryptography.x509"}),
        # One blocking request: no event loop; describing API objects needs neither the stored manifest's RDB
        # checks (anycrc) nor the schedule's models; no Redis options (domain.source), no exec plugin (subprocess).
        (
            ["describe-snapshots", "--help"],
            {
                "asyncio",
                "concurrent.futures",
                "anycrc",
                "redisbackup.domain.manifest",
                "redisbackup.api.schedule_spec",
                "redisbackup.domain.source",
                "subprocess",
            },
        ),
        # One node's dump streams over the raw replication protocol: redis-py is for --cluster planning.
        (["dump", "--help"], {"kubernetes", "kopf", "redis", "aiohttp"}),
    ],
)
def test_a_command_imports_only_what_it_uses(argv: list[str], unwanted: set[str]) -> None:
    # Start-up time (a `make bench` figure) is mostly imports: each command leaves the others' libraries alone.
    import subprocess
    import sys

    probe = (
        "import sys; from redisbackup.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = set(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    )
    assert "redisbackup.cli.main" in loaded
    assert not unwanted & loaded


def test_one_shot_commands_run_with_pydantics_plugins_off_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pydantic's plugin scan (every installed distribution's entry points) is start-up time a one-shot command
    # has no use for; pydantic's own switch turns it off for the command only, and a user's value is kept.
    import argparse
    import os

    from redisbackup.cli.main import PLUGINS_SWITCH, run_without_pydantic_plugins

    seen: list[str | None] = []

    def handler(_: argparse.Namespace) -> int:
        seen.append(os.environ.get(PLUGINS_SWITCH))
        return 7

    monkeypatch.delenv(PLUGINS_SWITCH, raising=False)
    assert run_without_pydantic_plugins(handler, argparse.Namespace()) == 7
    assert PLUGINS_SWITCH not in os.environ
    monkeypatch.setenv(PLUGINS_SWITCH, "")
    assert run_without_pydantic_plugins(handler, argparse.Namespace()) == 7
    assert seen == ["__all__", ""]
    assert os.environ[PLUGINS_SWITCH] == ""
    assert commands.SERVERS.issubset(commands.COMMANDS)  # the long-running ones keep pydantic's default
