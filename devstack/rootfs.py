"""Debian userlands made from Debian's packages, cached: the base of every image and of every Redis version.

No container registry is reachable here, but Debian's archive is. `mmdebstrap` turns a suite and a package list
into a root file system in ~45 s; it is built once per (suite, sources, packages, variant) into
``~/.cache/redisbackup/rootfs/<name>-<key>/`` (``REDISBACKUP_CACHE`` overrides the root) and renamed into place, so
an interrupted build never leaves a half-made userland. Two uses:

- a program of another Debian release runs on this host through that userland's own dynamic loader and
  libraries (`Userland.argv`): trixie's redis-server 8.0 needs trixie's glibc, bullseye's needs libssl1.1, and
  neither needs a chroot, so configuration files, sockets and certificates stay at host paths;
- `Userland.tarball()` is the same tree as a tar, which `podman import` turns into a base image.

    python -m devstack.rootfs [NAME ...]     # build (or find) the named userlands and print their paths
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.binaries import cache_root

DEFAULT_MIRROR = "http://deb.debian.org/debian"
_LOADER = "ld-linux-x86-64.so.2"
_LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64")


def debian_mirror() -> str:
    """The Debian mirror this machine's own apt sources name (deb822 or one-line form), else deb.debian.org."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        with contextlib.suppress(OSError):
            for match in re.finditer(r"(?:URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s", path.read_text(), re.M):
                return match.group(1)
    return DEFAULT_MIRROR


@dataclass(frozen=True)
class Userland:
    """A Debian root file system: `suite` plus `packages` (``name`` or ``name/suite`` for backports)."""

    name: str
    suite: str
    packages: tuple[str, ...] = ()
    extra_suites: tuple[str, ...] = ()
    """Further suites of the same archive, e.g. ``bookworm-backports``."""
    variant: str = "essential"
    """mmdebstrap's variant: ``essential`` (Essential: yes and the packages) or ``minbase`` (+ apt)."""

    @property
    def key(self) -> str:
        identity = "\n".join([self.suite, self.variant, *sorted(self.extra_suites), *sorted(self.packages)])
        return hashlib.sha256(identity.encode()).hexdigest()[:12]

    @property
    def path(self) -> Path:
        return cache_root() / "rootfs" / f"{self.name}-{self.key}"

    def is_built(self) -> bool:
        return (self.path / ".complete").exists()

    def ensure(self, *, quiet: bool = False) -> Path:
        """Build the userland unless cached; return its root directory."""
        if self.is_built():
            return self.path
        with _lock(self.path.parent / f".{self.path.name}.lock", quiet, self.name):
            if not self.is_built():
                _mmdebstrap(self, quiet)
        return self.path

    def tarball(self) -> Path:
        """The userland as an uncompressed tar (made once, next to the directory)."""
        root = self.ensure()
        tar = root.with_suffix(".tar")
        if not tar.exists():
            partial = tar.with_suffix(".tar.partial")
            subprocess.run(
                ["tar", "--numeric-owner", "--exclude=./.complete", "-C", str(root), "-cf", str(partial), "."],
                check=True,
            )
            partial.rename(tar)
        return tar

    def loader(self) -> Path:
        root = self.ensure()
        for directory in _LIBRARY_DIRS:
            if (candidate := root / directory / _LOADER).exists():
                return candidate
        raise FileNotFoundError(f"{self.name}: no {_LOADER} under {root}")

    def argv(self, program: str, *args: str) -> list[str]:
        """Run `program` (e.g. ``/usr/bin/redis-server``) of this userland on the host, with its own libc."""
        root = self.ensure()
        library_path = ":".join(str(root / d) for d in _LIBRARY_DIRS if (root / d).is_dir())
        # The loader passes the path as given (not the symlink's target) as argv[0]: Debian's redis-server is a
        # symlink to redis-check-rdb, which decides what to be from argv[0]. (No --argv0: bullseye's glibc 2.31
        # loader does not know it.)
        binary = root / program.lstrip("/")
        return [str(self.loader()), "--library-path", library_path, str(binary), *args]

    def has(self, program: str) -> bool:
        return (self.ensure() / program.lstrip("/")).exists()


@contextlib.contextmanager
def _lock(path: Path, quiet: bool, name: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"waiting for another build of the {name} userland …", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ensure_mmdebstrap() -> None:
    if shutil.which("mmdebstrap"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "mmdebstrap"], check=True, env=env)


def _mmdebstrap(userland: Userland, quiet: bool) -> None:
    _ensure_mmdebstrap()
    mirror = debian_mirror()
    started = time.monotonic()
    if not quiet:
        print(f"making the {userland.name} userland from Debian (first run only; {userland.path})", flush=True)
    userland.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=userland.path.parent, prefix=f".{userland.name}-") as tmp:
        target = Path(tmp) / "root"
        sources = [f"deb {mirror} {suite} main" for suite in (userland.suite, *userland.extra_suites)]
        command: list[str] = [
            "mmdebstrap",
            f"--variant={userland.variant}",
            # root mode as in CI; unshare mode needs subuids this machine may lack
            "--mode=root" if os.geteuid() == 0 else "--mode=unshare",
            "--include=" + ",".join(("ca-certificates", *userland.packages)),
            "--aptopt=Acquire::Retries=3",
            userland.suite,
            str(target),
            *sources,
        ]
        log = Path(tmp) / "mmdebstrap.log"
        with log.open("wb") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"mmdebstrap of {userland.name} failed ({result.returncode}):\n{tail}")
        (target / ".complete").write_text(" ".join(command) + "\n")
        if userland.path.exists():  # a partial tree left by hand; the fresh build wins
            shutil.rmtree(userland.path)
        target.rename(userland.path)
    if not quiet:
        print(f"made the {userland.name} userland in {time.monotonic() - started:.0f}s", flush=True)


def main(argv: Sequence[str]) -> int:
    # The registry of named userlands lives with their users (images, Redis versions); this entry point builds
    # any Userland given as SUITE[+EXTRA]:PKG,PKG for quick experiments.
    for spec in argv:
        suites, _, packages = spec.partition(":")
        suite, *extra = suites.split("+")
        userland = Userland(suite, suite, tuple(p for p in packages.split(",") if p), tuple(extra))
        print(userland.ensure())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
