"""The operator image as the tests see it: what its Dockerfile says it runs, and how Kubernetes combines that with a
container's `command` and `args`.

No image can be built here (no container engine), so the tests run the image's command as a local process instead;
this module keeps that command the one the Dockerfile declares, so a change to ENTRYPOINT or CMD (or to the chart's
args) changes what the tests run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    user: str
    env: dict[str, str]

    def argv(self, container: Mapping[str, Any]) -> list[str]:
        """The process a kubelet starts for `container` (a Pod spec's container) with this image.

        Kubernetes' rule: `command` replaces ENTRYPOINT (and then CMD is dropped); `args` replaces CMD.
        """
        command: Sequence[str] | None = container.get("command")
        args: Sequence[str] | None = container.get("args")
        if command:
            return [*command, *(args or [])]
        return [*self.entrypoint, *(args if args else self.cmd)]


def _exec_form(instruction: str, value: str) -> tuple[str, ...]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(part, str) for part in parsed):
        # The shell form would run under /bin/sh -c: signals would go to the shell, not to the operator.
        raise ValueError(f"Dockerfile: {instruction} must be in exec form (a JSON list of strings), not {value!r}")
    return tuple(parsed)


def image_config(dockerfile: Path = DOCKERFILE) -> ImageConfig:
    """ENTRYPOINT, CMD, USER and ENV of the Dockerfile's final stage."""
    parser = DockerfileParser(str(dockerfile))
    final: list[dict[str, Any]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            final = []
        final.append(instruction)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user = ""
    for instruction in final:
        if instruction["instruction"] == "ENTRYPOINT":
            entrypoint = _exec_form("ENTRYPOINT", instruction["value"])
        elif instruction["instruction"] == "CMD":
            cmd = _exec_form("CMD", instruction["value"])
        elif instruction["instruction"] == "USER":
            user = instruction["value"].strip()
    # dockerfile-parse resolves ENV per stage; the last FROM's environment is the image's.
    return ImageConfig(entrypoint=entrypoint, cmd=cmd, user=user, env=dict(parser.envs))
