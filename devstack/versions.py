"""The Redis and Valkey releases the suite runs on: every engine and version our users run, as Debian packages.

    id          engine  version  from
    redis-6.0   redis   6.0.16   bullseye           (no REPLCONF rdb-only, no CLUSTER SHARDS: the old paths)
    redis-7.0   redis   7.0.15   this host's own    (`make redis`; the default of every other test)
    redis-8.0   redis   8.0.2    trixie
    valkey-8.0  valkey  8.0.1    bookworm-backports
    valkey-8.1  valkey  8.1.1    trixie

Programs of another Debian release run on this host through their userland's own loader (`devstack.rootfs`), so
configuration files, sockets and data directories stay at host paths. Each release's tools (server, cli,
check-rdb) come from the same userland as its server. `tool_dir()` is a directory of small wrappers named as the
programs are (``redis-server``, ``valkey-check-rdb`` …), for whatever looks programs up by name — the operator's
RDB readers (``REDISBACKUP_RDB_TOOLS``) among them.

The version a release *is* is read from its server (`--version`, INFO) by the tests and the compatibility table;
`version` here is what Debian ships today. At start the server must be of the same release line (major.minor):
a point release (a security update) is tested as what it is, another line means this registry needs updating.

    python -m devstack.versions [ID ...]      # build (or find) the userlands and print each release's tools
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from devstack.rootfs import Userland

Engine = Literal["redis", "valkey"]
Program = Literal["server", "cli", "check-rdb"]

TRIXIE = Userland("trixie-redis", "trixie", ("redis-server", "valkey-server"))
BOOKWORM_BACKPORTS = Userland(
    "bookworm-bpo", "bookworm", ("valkey-server/bookworm-backports",), ("bookworm-backports",)
)
BULLSEYE = Userland("bullseye-redis", "bullseye", ("redis-server",))

_VERSION = re.compile(r"\bv=(\d+\.\d+\.\d+)")


class ReleaseMismatch(RuntimeError):
    """The package installed is not the release the registry names (Debian updated it, or the host changed)."""


@dataclass(frozen=True)
class Release:
    """One engine at one version, and where its programs come from."""

    id: str
    engine: Engine
    version: str
    suite: str
    userland: Userland | None = None
    """None: the host's own packages (installed by `make redis`)."""

    def __str__(self) -> str:
        return f"{self.engine} {self.version}"

    @property
    def line(self) -> tuple[int, int]:
        """(major, minor), for the few places where a feature arrived in a release line."""
        major, minor, *_ = (int(part) for part in self.version.split("."))
        return major, minor

    def program(self, program: Program) -> str:
        """The program's path inside its userland (or on the host), e.g. /usr/bin/valkey-check-rdb."""
        return f"/usr/bin/{self.engine}-{program}"

    def argv(self, program: Program, *args: str) -> list[str]:
        """How to run `program` of this release on this host."""
        if self.userland is None:
            return [self.program(program), *args]
        return self.userland.argv(self.program(program), *args)

    def ensure(self) -> Release:
        """Build the userland if needed (cached) and check that the server is the version named here."""
        _check_version(self)
        return self

    def tool_dir(self) -> Path:
        """A directory of wrappers for this release's server, cli and check-rdb, named as the programs are."""
        if self.userland is None:
            return Path(self.program("server")).parent
        return _wrappers(self)

    @property
    def image(self) -> str:
        """The official image of this release, as a Pod running it would name it."""
        repository = "docker.io/library/redis" if self.engine == "redis" else "docker.io/valkey/valkey"
        return f"{repository}:{self.version}"

    def reported_version(self) -> str:
        """What the server says it is (`<engine>-server --version`)."""
        return _reported(self)

    @property
    def is_host(self) -> bool:
        return self.userland is None


RELEASES: tuple[Release, ...] = (
    Release("redis-6.0", "redis", "6.0.16", "bullseye", BULLSEYE),
    Release("redis-7.0", "redis", "7.0.15", "bookworm"),
    Release("redis-8.0", "redis", "8.0.2", "trixie", TRIXIE),
    Release("valkey-8.0", "valkey", "8.0.1", "bookworm-backports", BOOKWORM_BACKPORTS),
    Release("valkey-8.1", "valkey", "8.1.1", "trixie", TRIXIE),
)
HOST = next(release for release in RELEASES if release.is_host)
"""What every test that names no release runs on."""
IMAGE_RELEASES = tuple(release for release in RELEASES if release.userland is TRIXIE)
"""The RDB readers the operator image ships: trixie's redis-tools and valkey-tools (the newest Debian has)."""
IDS = tuple(release.id for release in RELEASES)


def release(identifier: str) -> Release:
    for candidate in RELEASES:
        if candidate.id == identifier:
            return candidate
    raise KeyError(f"no release {identifier!r}; known: {', '.join(IDS)}")


def userlands() -> list[Userland]:
    """Every userland the releases need, once each."""
    seen: dict[Path, Userland] = {}
    for candidate in RELEASES:
        if candidate.userland is not None:
            seen.setdefault(candidate.userland.path, candidate.userland)
    return list(seen.values())


@cache
def _reported(release: Release) -> str:
    result = subprocess.run(release.argv("server", "--version"), capture_output=True, text=True, check=False)
    match = _VERSION.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise ReleaseMismatch(
            f"{release.id}: `{release.engine}-server --version` said {result.stdout or result.stderr!r}"
        )
    return match[1]


@cache
def _check_version(release: Release) -> None:
    if release.is_host and not Path(release.program("server")).exists():
        raise ReleaseMismatch(f"{release.id}: {release.program('server')} is missing; run `make redis`")
    reported = _reported(release)
    if reported.split(".")[:2] != release.version.split(".")[:2]:
        raise ReleaseMismatch(
            f"{release.id}: the {release.suite} package is {release.engine} {reported}, not {release.version}'s "
            "line: update devstack/versions.py (and the README's compatibility table, `make matrix`)"
        )


_WRAPPER = """#!/bin/sh
# {release}: {program} of the {userland} userland, run through its own loader (devstack.versions)
exec {argv} "$@"
"""


def _wrappers(release: Release) -> Path:
    assert release.userland is not None
    directory = release.userland.ensure() / ".host-bin" / release.engine
    directory.mkdir(parents=True, exist_ok=True)
    for program in ("server", "cli", "check-rdb"):
        path = directory / f"{release.engine}-{program}"
        argv = shlex.join(release.argv(program))  # type: ignore[arg-type]
        text = _WRAPPER.format(release=release, program=program, userland=release.userland.name, argv=argv)
        if not path.exists() or path.read_text() != text:
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_text(text)
            partial.chmod(0o755)
            partial.rename(path)
    return directory


def main(argv: Sequence[str]) -> int:
    chosen = [release(identifier) for identifier in argv] or list(RELEASES)
    for item in chosen:
        item.ensure()
        print(f"{item.id:11} {item!s:14} {item.suite:19} {item.tool_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
