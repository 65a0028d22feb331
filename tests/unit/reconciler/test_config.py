"""The operator's configuration file: defaults that work, and every mistake named with its path."""

from __future__ import annotations

import pytest

from redisbackup.api.config import OperatorConfig
from redisbackup.cli.config_file import ConfigError, load_config, parse_config

FULL = """
storage:
  defaultLocation: archive
  locations:
    embedded:
      file: {path: /var/lib/redisbackup}
    archive:
      s3:
        bucket: redis-snapshots
        prefix: /prod/eu/
        region: eu-west-1
        endpoint: https://s3.example.com
        addressingStyle: path
        credentials: {directory: /etc/redisbackup/s3/archive}
limits: {maxConcurrentSnapshots: 8, sourceMissingDeadlineSeconds: 30}
namespaces: [payments, orders]
metrics: {port: 9090}
health: {host: 127.0.0.1, port: 0}
"""


def test_an_empty_file_gives_the_embedded_file_location_and_production_limits() -> None:
    config = parse_config("")
    name, location = config.location(None)
    assert (name, location.kind, location.url) == ("embedded", "file", "file:///var/lib/redisbackup")
    assert config.limits.max_concurrent_snapshots == 4
    assert config.limits.source_missing_deadline_seconds == 600
    assert config.namespaces == []
    assert (config.metrics.port, config.health.port) == (8080, 8081)


def test_the_embedded_directory_follows_redisbackup_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDISBACKUP_DATA_DIR", "/data/snapshots")
    assert load_config(None).location(None)[1].url == "file:///data/snapshots"
    assert parse_config("storage: {defaultLocation: embedded}").location(None)[1].url == "file:///data/snapshots"
    # A file that names its locations is taken as written; the models themselves never read the environment.
    named = parse_config("storage: {locations: {embedded: {file: {path: /srv/rdb}}}}")
    assert named.location(None)[1].url == "file:///srv/rdb"
    assert OperatorConfig().location(None)[1].url == "file:///var/lib/redisbackup"


def test_a_relative_redisbackup_data_dir_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDISBACKUP_DATA_DIR", "data")
    with pytest.raises(ConfigError, match="REDISBACKUP_DATA_DIR must be an absolute path"):
        load_config(None)


def test_a_full_file_reads_as_written_and_the_prefix_is_normalised() -> None:
    config = parse_config(FULL)
    name, location = config.location(None)
    assert name == "archive"
    assert location.s3 is not None
    assert location.url == "s3://redis-snapshots/prod/eu"
    assert location.s3.credentials is not None
    assert location.s3.credentials.access_key_id_key == "AWS_ACCESS_KEY_ID"
    assert config.location("embedded")[1].kind == "file"
    assert config.limits.max_concurrent_snapshots == 8
    assert config.namespaces == ["payments", "orders"]
    # host "": every address, IPv4 and IPv6
    assert (config.metrics.host, config.metrics.port, config.health.port) == ("", 9090, 0)


def test_every_unknown_key_is_named_with_its_path_and_the_keys_allowed_there() -> None:
    text = """
storage:
  locations:
    embedded:
      file: {path: /x, size: 10}
    archive:
      s3: {bucket: snapshots, bukcet: typo}
limits: {maxConcurentSnapshots: 2}
metricz: {port: 1}
"""
    with pytest.raises(ConfigError) as error:
        parse_config(text, source="/etc/redisbackup/config.yaml")
    message = str(error.value)
    assert message.startswith("/etc/redisbackup/config.yaml has 4 problem(s):")
    assert "storage.locations.embedded.file.size is not a known setting" in message
    assert "storage.locations.archive.s3.bukcet is not a known setting" in message
    assert (
        "(allowed here: bucket, prefix, endpoint, region, addressingStyle, credentials, caBundle, transfer)" in message
    )
    assert "limits.maxConcurentSnapshots is not a known setting" in message
    assert "maxConcurrentSnapshots" in message  # the right spelling is listed
    assert "metricz is not a known setting: remove it or correct its spelling" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("storage: {locations: {x: {}}}", "exactly one of file or s3"),
        ("storage: {locations: {x: {file: {path: /a}, s3: {bucket: abc}}}}", "exactly one of file or s3"),
        ("storage: {defaultLocation: nope, locations: {x: {file: {path: /a}}}}", "defaultLocation 'nope' is not one"),
        ("storage: {locations: {Bad_Name: {file: {path: /a}}}}", "storage.locations.Bad_Name"),
        ("storage: {locations: {x: {file: {path: relative}}}}", "storage.locations.x.file.path"),
        ("storage: {locations: {x: {s3: {bucket: b}}}}", "storage.locations.x.s3.bucket"),
        ("storage: {locations: {x: {s3: {bucket: bucket, prefix: a//b}}}}", "has an empty, '.' or '..' part"),
        ("storage: {locations: {x: {s3: {bucket: bucket, prefix: a/../b}}}}", "has an empty, '.' or '..' part"),
        ("limits: {maxConcurrentSnapshots: 0}", "limits.maxConcurrentSnapshots"),
        ("limits: {progressIntervalSeconds: 0.1}", "limits.progressIntervalSeconds"),
        ("- a list", "must be a mapping of settings"),
        ("storage: [unclosed", "is not valid YAML"),
    ],
)
def test_a_broken_rule_is_refused_with_the_key_that_breaks_it(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert fragment in str(error.value)


def test_retries_back_off_exponentially_up_to_the_maximum() -> None:
    limits = parse_config("limits: {retryInitialDelaySeconds: 1, retryMaxDelaySeconds: 10}").limits
    assert [limits.retry_delay(retry) for retry in range(6)] == [1, 2, 4, 8, 10, 10]
    assert limits.retry_delay(10_000) == 10
