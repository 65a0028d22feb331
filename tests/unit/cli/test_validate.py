"""`redisbackup validate`: the webhook's verdicts offline, with exit codes CI pipelines can rely on."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from redisbackup.cli.main import main

CASES = Path(__file__).resolve().parents[2] / "data" / "redisbackups.yaml"

GOOD = """\
apiVersion: redisbackup.io/v1alpha1
kind: RedisBackup
metadata: {name: nightly, namespace: team-a}
spec: {snapshotName: bkup-20150515, cacheClusterId: mycluster}
"""


def test_valid_manifests_exit_0_and_print_nothing_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.yaml").write_text(GOOD)
    assert main(["validate", str(tmp_path / "ok.yaml")]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "1 RedisBackup(s) checked, 0 invalid" in err


def test_each_problem_is_printed_as_file_document_fault_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(CASES)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{CASES}:3: SnapshotAlreadyExistsFault: " in lines[0]
    assert lines[0].startswith(
        f'{CASES}:3: SnapshotAlreadyExistsFault: spec.snapshotName "BKUP-20150515" is already used'
    )
    by_document: dict[str, list[str]] = {}
    for line in lines:
        location, fault, _ = line.split(": ", 2)
        by_document.setdefault(location.rsplit(":", 1)[1], []).append(fault)
    assert by_document == {
        "3": ["SnapshotAlreadyExistsFault"],
        "5": ["InvalidParameterValue"],
        "6": ["InvalidParameterValue"] * 4,
        "7": ["InvalidParameterValue"],
        "8": ["InvalidParameterValue"],
        "9": ["InvalidParameterValue"],
        "10": ["InvalidParameterValue"],
        "11": ["InvalidParameterCombination"],
        "12": ["InvalidParameterCombination"],
        "13": ["InvalidParameterValue"] * 2,
        "14": ["InvalidParameterValue"],
        "15": ["InvalidParameterValue"],  # the second `cluster` is an update changing snapshotName
    }


def test_a_single_document_file_has_no_document_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("bkup-20150515", "bkup-"))
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}: InvalidParameterValue: spec.snapshotName cannot end with a hyphen: remove the trailing hyphen or "
        "end with a letter or digit\n"
    )


def test_json_output_lists_every_document_with_its_violations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-o", "json", str(CASES)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    documents = report["files"][0]["documents"]
    assert [d["document"] for d in documents] == [1, *range(3, 17)]  # the ConfigMap (2) is skipped
    assert documents[0]["valid"] is True
    assert documents[0]["warnings"] == [
        'spec.cacheClusterId "myNonClusteredRedis-001" is case-insensitive, as in ElastiCache: the operator looks '
        'for "mynonclusteredredis-001"'
    ]
    assert documents[1]["violations"][0] == {
        "fault": "SnapshotAlreadyExistsFault",
        "field": "spec.snapshotName",
        "message": documents[1]["violations"][0]["message"],
    }


def test_a_duplicate_across_files_is_caught_but_not_across_namespaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("name: nightly", "name: again"))
    (tmp_path / "c.yaml").write_text(GOOD.replace("name: nightly", "name: again").replace("team-a", "team-b"))
    assert main(["validate", *(str(tmp_path / f"{n}.yaml") for n in "abc")]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{tmp_path / 'b.yaml'}: SnapshotAlreadyExistsFault:")


def test_stdin_is_read_for_a_dash(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(GOOD.replace("mycluster", "my_cluster")))
    assert main(["validate", "-"]) == 1
    assert capsys.readouterr().out.startswith("<stdin>: InvalidParameterValue: spec.cacheClusterId may contain only")


def test_unreadable_or_unparseable_input_exits_2_and_still_checks_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text("spec: [unclosed\n")
    (tmp_path / "bad.yaml").write_text(GOOD.replace("bkup-20150515", "bkup--1"))
    code = main(["validate", str(tmp_path / "missing.yaml"), str(tmp_path / "broken.yaml"), str(tmp_path / "bad.yaml")])
    assert code == 2
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'missing.yaml'}: cannot read the file" in err
    assert f"{tmp_path / 'broken.yaml'}: cannot parse YAML" in err
    assert "two consecutive hyphens" in out


def test_input_without_redisbackups_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert main(["validate", str(tmp_path / "cm.yaml")]) == 0
    assert "no RedisBackup found" in capsys.readouterr().err


SCHEDULE = """\
apiVersion: redisbackup.io/v1alpha1
kind: RedisBackupSchedule
metadata: {name: daily, namespace: team-a}
spec: {cacheClusterId: mycluster, schedule: "0 3 * * *", keepLast: 7}
"""
# What a file of RedisBackups has no use for: the schedule's models and rules (cron, time zones), the status models,
# and every client library.
NOT_FOR_REDISBACKUPS = {
    "redisbackup.api.schedule_validation",
    "redisbackup.api.schedule_spec",
    "redisbackup.api.schedule_status",
    "redisbackup.api.status",
    "cronsim",
    "kubernetes",
    "kopf",
    "boto3",
    "redis",
    "aiohttp",
    "asyncio",
}


def _validate_in_a_new_process(path: Path) -> tuple[int, str, set[str]]:
    import subprocess
    import sys

    probe = (
        "import sys; from redisbackup.cli.main import main\n"
        f"code = main(['validate', {str(path)!r}])\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
        "sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    return done.returncode, done.stderr, set(done.stdout.partition("MODULES ")[2].split())


def test_validate_imports_the_schedule_rules_only_for_a_schedule(tmp_path: Path) -> None:
    # Start-up is most of validate's time (a `make bench` figure): a RedisBackup's check loads only its own rules.
    path = tmp_path / "backups.yaml"
    path.write_text(GOOD)
    code, err, loaded = _validate_in_a_new_process(path)
    assert (code, err) == (0, "1 RedisBackup(s) checked, 0 invalid\n")
    assert "redisbackup.api.validation" in loaded
    assert not NOT_FOR_REDISBACKUPS & loaded
    # A schedule in the stream brings its rules in, and they run.
    path.write_text(GOOD + "---\n" + SCHEDULE + "---\n" + SCHEDULE.replace("0 3 * * *", "0 3 * *"))
    code, err, loaded = _validate_in_a_new_process(path)
    assert code == 1
    assert err == "1 RedisBackup(s) and 2 RedisBackupSchedule(s) checked, 1 invalid\n"
    assert "redisbackup.api.schedule_validation" in loaded


def test_the_resources_names_import_no_model() -> None:
    # Most modules need only a kind or a plural (api.resource); the models are api.backup's and api.schedule's.
    import subprocess
    import sys

    probe = "import sys, redisbackup.api.resource; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "redisbackup.api.resource" in loaded
    assert not {"pydantic", "redisbackup.api.spec", "redisbackup.api.schedule_spec"} & loaded
