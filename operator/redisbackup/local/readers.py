"""The local RDB readers: each redis-server / valkey-server (with its redis-check-rdb / valkey-check-rdb) found here.

Verification and restore-cluster read a stored RDB with a local server of an engine and version that understands
it (domain.engines decides which). The readers are looked up, in order:

- the programs named explicitly (--redis-server / --redis-check-rdb, or $REDISBACKUP_REDIS_SERVER and
  $REDISBACKUP_REDIS_CHECK_RDB): then only that one reader;
- else every directory of $REDISBACKUP_RDB_TOOLS (colon-separated), else of $PATH: in each, `redis-server` and
  `valkey-server`, each with the check-rdb of the same engine beside it. Debian ships the server as a link to its
  check-rdb program (one binary that chooses what to be from argv[0]), so either name alone is enough.

Each reader's version is asked of the server itself (`--version`), once per program.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from redisbackup.domain.engines import EngineVersion
from redisbackup.domain.rdb import ENGINES, Engine

RDB_TOOLS_ENV = "REDISBACKUP_RDB_TOOLS"
REDIS_SERVER_ENV = "REDISBACKUP_REDIS_SERVER"
CHECK_RDB_ENV = "REDISBACKUP_REDIS_CHECK_RDB"
_VERSION = re.compile(r"\b(Redis|Valkey) server v=(\S+)")
_probed: dict[tuple[str, float], EngineVersion | None] = {}


@dataclass(frozen=True)
class RdbReader:
    """A local server program that loads RDBs, and the checker that parses them, of one engine and version."""

    release: EngineVersion
    server: str  # run with argv[0] = `<engine>-server`
    checker: str  # run with argv[0] = `<engine>-check-rdb`

    def __str__(self) -> str:
        return str(self.release)

    @property
    def server_name(self) -> str:
        return f"{self.release.engine}-server"

    @property
    def checker_name(self) -> str:
        return f"{self.release.engine}-check-rdb"


async def probe(program: str, engine_hint: Engine) -> EngineVersion | None:
    """What `program --version` says it is (run as `<engine>-server`); None when it is no Redis/Valkey server."""
    try:
        key = (program, Path(program).stat().st_mtime)  # noqa: ASYNC240 - a stat, once per program
    except OSError:
        return None
    if key in _probed:
        return _probed[key]
    found: EngineVersion | None = None
    try:
        process = await asyncio.create_subprocess_exec(
            f"{engine_hint}-server",
            "--version",
            executable=program,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    except (OSError, TimeoutError):
        output = b""
    if match := _VERSION.search(output.decode(errors="replace")):
        found = EngineVersion("valkey" if match[1] == "Valkey" else "redis", match[2])
    _probed[key] = found
    return found


def _which(program: str) -> str | None:
    return shutil.which(program) or (program if Path(program).is_file() and os.access(program, os.X_OK) else None)


async def explicit_reader(server: str | None, checker: str | None) -> RdbReader | str | None:
    """The reader named by flags or environment: a reader, None when nothing is named, or the name that is not a
    Redis or Valkey server (so the caller can say so)."""
    server = server or os.environ.get(REDIS_SERVER_ENV)
    checker = checker or os.environ.get(CHECK_RDB_ENV)
    if server is None and checker is None:
        return None
    program = _which(server or checker or "")
    if program is None:
        return server or checker or ""
    for engine in ENGINES:
        if (release := await probe(program, engine)) is not None:
            found_checker = _which(checker) if checker else None
            return RdbReader(release, program, found_checker or _beside(program, release.engine) or program)
    return server or checker or ""


def _beside(program: str, engine: Engine) -> str | None:
    candidate = Path(program).with_name(f"{engine}-check-rdb")
    return str(candidate) if candidate.exists() else None


def search_path() -> list[str]:
    tools = os.environ.get(RDB_TOOLS_ENV)
    return [d for d in (tools if tools is not None else os.environ.get("PATH", "")).split(os.pathsep) if d]


async def find_readers(*, server: str | None = None, checker: str | None = None) -> tuple[list[RdbReader], str | None]:
    """The local readers, in search order, and the explicitly named program that is not one (or None)."""
    named = await explicit_reader(server, checker)
    if isinstance(named, RdbReader):
        return [named], None
    if isinstance(named, str):
        return [], named
    readers: list[RdbReader] = []
    for engine, program, checker_program in candidates(search_path()):
        release = await probe(program, engine)
        if release is not None:
            readers.append(RdbReader(release, program, checker_program))
    return readers, None


def candidates(directories: list[str]) -> list[tuple[Engine, str, str]]:
    """(engine, server program, checker program) in each directory, each binary once (PATH often has /bin and
    /usr/bin, one directory)."""
    found: list[tuple[Engine, str, str]] = []
    seen: set[Path] = set()
    for directory in directories:
        for engine in ENGINES:
            server_path = Path(directory, f"{engine}-server")
            checker_path = Path(directory, f"{engine}-check-rdb")
            program = next((p for p in (server_path, checker_path) if p.is_file()), None)
            if program is None or program.resolve() in seen:
                continue
            seen.add(program.resolve())
            found.append((engine, str(program), str(checker_path if checker_path.is_file() else program)))
    return found
