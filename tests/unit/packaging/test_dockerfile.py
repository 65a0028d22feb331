"""The operator image, checked by reading it: hadolint, the stages, what the final stage contains and runs, and the
build context the .dockerignore lets through. (`make images` builds it for real; tests/e2e/node runs it.)"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from devstack.image import DOCKERFILE, REPO, image_config

HADOLINT = Path(sys.executable).parent / "hadolint"


def stages() -> list[list[dict[str, str]]]:
    found: list[list[dict[str, str]]] = []
    for instruction in DockerfileParser(str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def runs(stage: list[dict[str, str]]) -> str:
    return " ".join(i["value"] for i in stage if i["instruction"] == "RUN")


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_is_a_slim_python_pinned_to_a_patch_release_in_both_stages() -> None:
    text = DOCKERFILE.read_text()
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", default), f"{default} is not pinned to a patch release"
    froms = [stage[0]["value"] for stage in stages()]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"], "same interpreter path for the copied venv"


def test_the_base_is_debian_trixie_whose_tools_read_the_newest_rdb_versions() -> None:
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert default.endswith("-slim-trixie"), "trixie: redis-tools 8.0 (RDB 12) and valkey-tools 8.1"


def test_compilers_stay_in_the_builder_and_the_final_stage_has_redis_check_rdb() -> None:
    builder, final = stages()
    assert "build-essential" in runs(builder)
    assert "pip wheel" in runs(builder)
    assert "redis-tools" in runs(final), "redis-check-rdb comes with redis-tools"
    assert "valkey-tools" in runs(final), "valkey-check-rdb comes with valkey-tools"
    assert "tini" in runs(final), "the init that reaps the verification servers"
    for tool in ("build-essential", "gcc", "pip install", "pip wheel"):
        assert tool not in runs(final)
    copies = [i["value"] for i in final if i["instruction"] == "COPY"]
    assert copies == ["--from=builder /opt/redisbackup /opt/redisbackup"], "only the built environment is copied"
    assert "rm -rf /var/lib/apt/lists/*" in runs(final)


def test_the_image_runs_redisbackup_operator_as_a_numeric_non_root_user() -> None:
    image = image_config()
    assert image.argv({}) == ["tini", "--", "redisbackup", "operator"]
    user, _, group = image.user.partition(":")
    assert user.isdigit(), "runAsNonRoot can only be verified for a numeric USER"
    assert int(user) != 0
    assert group.isdigit()
    assert int(group) != 0
    assert "useradd --system --uid 65532" in runs(stages()[-1]), "getpass/kopf find a name for the uid"
    assert image.env["PATH"].startswith("/opt/redisbackup/bin")
    assert image.env["PYTHONDONTWRITEBYTECODE"] == "1", "nothing is written next to the code (read-only root)"
    assert image.env["TMPDIR"] == "/tmp", "the only writable path: an emptyDir in the chart"


def test_the_entrypoint_is_tini_then_the_packages_console_script() -> None:
    """tini as PID 1 reaps the throwaway redis-servers of `spec.verify` and forwards SIGTERM to the operator."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["redisbackup"] == "redisbackup.cli.main:main"
    assert image_config().entrypoint == ("tini", "--", "redisbackup")


def test_kubernetes_args_replace_cmd_and_command_replaces_both() -> None:
    image = image_config()
    assert image.argv({"args": ["operator", "--debug"]}) == ["tini", "--", "redisbackup", "operator", "--debug"]
    assert image.argv({"command": ["redis-check-rdb"], "args": ["dump.rdb"]}) == ["redis-check-rdb", "dump.rdb"]


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    body = pattern.strip("/")
    regex = ""
    index = 0
    while index < len(body):
        if body.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif body.startswith("**", index):
            regex += ".*"
            index += 2
        elif body[index] == "*":
            regex += "[^/]*"
            index += 1
        elif body[index] == "?":
            regex += "[^/]"
            index += 1
        elif body[index] == "[":
            end = body.index("]", index)
            regex += body[index : end + 1]
            index = end + 1
        else:
            regex += re.escape(body[index])
            index += 1
    return re.compile(regex)


def sent_to_the_builder(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or any directory above it, decides."""
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    rules = [(line.startswith("!"), _pattern(line.lstrip("!"))) for line in lines if line and not line.startswith("#")]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


@pytest.mark.parametrize(
    "path",
    ["pyproject.toml", "README.md", "operator/redisbackup/cli/main.py", "operator/redisbackup/py.typed"],
)
def test_the_build_context_has_what_the_copies_need(path: str) -> None:
    assert sent_to_the_builder(path)


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".devstack/kubeconfig",
        "tests/unit/test_faults.py",
        "charts/redisbackup/x",
        "operator/redisbackup/__pycache__/main.cpython-311.pyc",
        "operator/redisbackup.egg-info/PKG-INFO",
    ],
)
def test_the_build_context_leaves_out_everything_else(path: str) -> None:
    assert not sent_to_the_builder(path)


def test_every_copy_source_is_in_the_build_context() -> None:
    builder, _ = stages()
    for instruction in builder:
        if instruction["instruction"] == "COPY":
            *sources, _destination = instruction["value"].split()
            for source in sources:
                assert (REPO / source).exists(), source
                assert sent_to_the_builder(source.rstrip("/")), f"{source} is excluded by .dockerignore"
