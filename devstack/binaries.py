"""Build and cache the Go programs of the local stack: Kubernetes (control plane and node), helm and SeaweedFS.

Each tool set is built once per version into ``~/.cache/redisbackup/<name>-<version>-<key>/bin`` (override the root
with ``REDISBACKUP_CACHE``); a rerun finds the binaries and returns in milliseconds. The key is a digest of what
the build is made of (the programs, the packages, the wrapper module's go.mod/go.sum/sources), so adding a program
or bumping a dependency builds once into a new directory instead of reusing a cache that lacks it. Builds go to a
temporary directory first and are renamed into place, so an interrupted build never leaves a half-filled cache.

    python -m devstack.binaries [all|kubernetes|helm|seaweedfs]
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

KUBERNETES_VERSION = "v1.36.3"
HELM_VERSION = "v3.22.0"
SEAWEEDFS_VERSION = "v0.0.0-20261109003541-7506e5f91cd6"
COREDNS_VERSION = "v1.14.7"  # pinned in devstack/coredns/go.mod too
LOCAL_PATH_VERSION = "v0.0.30"


def cache_root() -> Path:
    if root := os.environ.get("REDISBACKUP_CACHE"):
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "redisbackup"


@dataclass(frozen=True)
class ToolSet:
    name: str
    version: str
    programs: tuple[str, ...]
    module_dir: Path | None  # a wrapper Go module in devstack/, or None for `go install pkg@version`
    packages: tuple[str, ...]
    ldflags: str = "-s -w"

    @functools.cached_property
    def key(self) -> str:
        """A digest of the build's inputs: the programs, packages and flags, and the wrapper module's files."""
        digest = hashlib.sha256("\n".join([*self.programs, *self.packages, self.ldflags]).encode())
        if self.module_dir is not None:
            for path in sorted(self.module_dir.rglob("*")):
                if path.is_file():
                    digest.update(path.relative_to(self.module_dir).as_posix().encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:10]

    @property
    def bin_dir(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}-{self.key}" / "bin"

    def path(self, program: str) -> Path:
        return self.bin_dir / program

    def is_built(self) -> bool:
        return all(os.access(self.path(p), os.X_OK) for p in self.programs)


def _kube_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    # Without these the binaries report v0.0.0-master and kubectl warns about version skew.
    return " ".join(
        [
            "-s -w",
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    )


KUBERNETES = ToolSet(
    name="kubernetes",
    version=KUBERNETES_VERSION,
    programs=(
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kubectl",
        "kubelet",
        "kube-scheduler",
        "kube-proxy",
    ),
    module_dir=HERE / "controlplane",
    packages=(
        "./etcd",
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kubectl",
        "k8s.io/kubernetes/cmd/kubelet",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        "k8s.io/kubernetes/cmd/kube-proxy",
    ),
    ldflags=_kube_ldflags(KUBERNETES_VERSION),
)
HELM = ToolSet(
    name="helm",
    version=HELM_VERSION,
    programs=("helm",),
    module_dir=None,
    packages=(f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",),
)
SEAWEEDFS = ToolSet(
    name="seaweedfs",
    version=SEAWEEDFS_VERSION,
    programs=("weed",),
    module_dir=HERE / "seaweedfs",
    packages=("github.com/seaweedfs/seaweedfs/weed",),
)
# The node's add-ons (devstack.node): cluster DNS, and a dynamic provisioner of PersistentVolumes (what kind runs).
COREDNS = ToolSet(
    name="coredns",
    version=COREDNS_VERSION,
    programs=("coredns",),
    module_dir=HERE / "coredns",
    packages=(".",),
)
LOCAL_PATH = ToolSet(
    name="local-path-provisioner",
    version=LOCAL_PATH_VERSION,
    programs=("local-path-provisioner",),
    module_dir=None,
    packages=(f"github.com/rancher/local-path-provisioner@{LOCAL_PATH_VERSION}",),
)
# How GitOps tools judge health, by their own code (devstack.gitops): cli-utils' kstatus and Argo CD's Lua runtime.
GITOPS_HEALTH = ToolSet(
    name="gitops-health",
    version="cli-utils-v0.37.2-gopher-lua-v1.1.1",  # pinned in devstack/gitopshealth/go.mod
    programs=("kstatus", "argocd-health"),
    module_dir=HERE / "gitopshealth",
    packages=("./kstatus", "./argocd-health"),
)
TOOLSETS = {t.name: t for t in (KUBERNETES, HELM, SEAWEEDFS, COREDNS, LOCAL_PATH, GITOPS_HEALTH)}


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


@contextlib.contextmanager
def _build_lock(tools: ToolSet, quiet: bool) -> Iterator[None]:
    """One build per tool set at a time, machine-wide: a second `make` waits for the first instead of
    compiling the same thing again on the same (few) cores."""
    lock_path = tools.bin_dir.parent.parent / f".{tools.name}-{tools.version}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"waiting for another build of {tools.name} {tools.version} to finish …", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build(tools: ToolSet, *, quiet: bool = False) -> Path:
    """Build `tools` into the cache unless already there; return its bin directory."""
    if tools.is_built():
        return tools.bin_dir
    if shutil.which("go") is None:
        raise RuntimeError("Go is required to build the local stack (https://go.dev/dl), and `go` is not on PATH")
    with _build_lock(tools, quiet):
        if tools.is_built():  # built by whoever held the lock before us
            return tools.bin_dir
        if not _adopt_unkeyed(tools):
            _compile(tools, quiet)
    return tools.bin_dir


def _adopt_unkeyed(tools: ToolSet) -> bool:
    """Hard-link the programs of a cache made before directories were keyed (``<name>-<version>/bin``) when it has
    every program: the same pinned version built from the same module, so a multi-minute build is saved. A legacy
    Kubernetes cache lacks the node's programs and is never adopted."""
    legacy = cache_root() / f"{tools.name}-{tools.version}" / "bin"
    if not all(os.access(legacy / p, os.X_OK) for p in tools.programs):
        return False
    tools.bin_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root(), prefix=f".{tools.name}-") as tmp:
        out = Path(tmp) / "bin"
        out.mkdir()
        for program in tools.programs:
            os.link(legacy / program, out / program)
        out.rename(tools.bin_dir)
    return True


def _compile(tools: ToolSet, quiet: bool) -> None:
    tools.bin_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if not quiet:
        print(f"building {tools.name} {tools.version} (first run only; cached in {tools.bin_dir})", flush=True)
    with tempfile.TemporaryDirectory(dir=tools.bin_dir.parent.parent, prefix=f".{tools.name}-") as tmp:
        out = Path(tmp) / "bin"
        out.mkdir()
        env = _go_env()
        if tools.module_dir is None:
            env["GOBIN"] = str(out)
            cmd = ["go", "install", "-trimpath", f"-ldflags={tools.ldflags}", *tools.packages]
            cwd = tmp
        else:
            cmd = ["go", "build", "-trimpath", f"-ldflags={tools.ldflags}", "-o", f"{out}/", *tools.packages]
            cwd = str(tools.module_dir)
        subprocess.run(cmd, cwd=cwd, env=env, check=True)
        missing = [p for p in tools.programs if not (out / p).exists()]
        if missing:
            raise RuntimeError(f"building {tools.name} produced no {', '.join(missing)}")
        if tools.bin_dir.exists():  # an empty or partial directory left by hand; the fresh build wins
            shutil.rmtree(tools.bin_dir)
        out.rename(tools.bin_dir)
    if not quiet:
        print(f"built {tools.name} {tools.version} in {time.monotonic() - started:.0f}s", flush=True)


def tool(program: str) -> Path:
    """Path of a cached program (building its tool set on first use)."""
    for tools in TOOLSETS.values():
        if program in tools.programs:
            return build(tools) / program
    raise KeyError(program)


def main(argv: list[str]) -> int:
    names = argv or ["all"]
    selected = list(TOOLSETS.values()) if names == ["all"] else [TOOLSETS[n] for n in names]
    for tools in selected:
        build(tools)
        print(f"{tools.name} {tools.version}: {tools.bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
