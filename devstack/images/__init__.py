"""Container images built for real with podman, cached by content: the operator's, Redis and Valkey, the pause image.

No registry is reachable here, but Debian's archive and PyPI are. Every image starts from a Debian userland made by
`devstack.rootfs` and imported under the name a Dockerfile's FROM uses (``docker.io/library/debian:trixie-slim``),
so the project's own Dockerfile builds unchanged here and against Docker Hub:

    debian:{bullseye,bookworm,trixie}-slim   userlands (mmdebstrap minbase) imported with `podman import`
    python:3.13.5-slim-trixie                Debian trixie's Python (python.Containerfile)
    redisbackup (the operator)               the repository's Dockerfile, FROM python:3.13.5-slim-trixie
    redis:6.0.16 7.0.15 8.0.2, valkey:8.0.1 8.1.1   Debian's packages, behaving like the official images
    pause                                     Kubernetes' pause.c, compiled statically

Each image has a key: a digest of everything it is made of (its Containerfile, build arguments, the files it copies,
its base's key). The product is a docker-archive under ``~/.cache/redisbackup/images/<name>-<key>.tar``, which the
node imports into containerd; a rerun whose inputs did not change finds the archive and builds nothing. Podman's
own storage (its layer cache) lives under ``~/.cache/redisbackup/podman``, never in the machine's
/var/lib/containers.

podman needs two settings on these machines (see /work/shared/NODE.md): ``--runtime runc`` (crun refuses hybrid
cgroups) and explicit ulimits no higher than the current ones (raising them needs CAP_SYS_RESOURCE). Steps that
need PyPI run with the host's network and its CA bundle and pip configuration mounted read-only.

    python -m devstack.images [NAME ...]     # build (or find) the images, print their archives and build times
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack import binaries
from devstack.rootfs import Userland

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RECIPE = "1"  # bump when the way images are built changes in a way the inputs do not show
LABEL = "io.redisbackup.devstack.key"
APT_PACKAGES = ("podman", "runc")


def cache_dir() -> Path:
    return binaries.cache_root() / "images"


def _ulimit() -> int:
    """The highest open-files/processes limit podman may set for a build step: the current soft limits, at most
    16384 (raising a hard limit needs CAP_SYS_RESOURCE, which these machines lack)."""
    limits = [resource.getrlimit(r)[0] for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC)]
    finite = [limit for limit in limits if limit != resource.RLIM_INFINITY]
    return min([16384, *finite])


def podman_argv() -> list[str]:
    root = binaries.cache_root() / "podman"
    return [
        "podman",
        f"--root={root / 'storage'}",
        f"--runroot={root / 'run'}",
        "--storage-driver=overlay",
        "--runtime=runc",
        "--cgroup-manager=cgroupfs",
        "--events-backend=file",
    ]


def podman(*args: str, capture: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*podman_argv(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or "")[-3000:] if capture else ""
        raise RuntimeError(f"podman {' '.join(args[:2])} … failed ({result.returncode}) {detail}")
    return result


def ensure_packages(packages: Sequence[str] = APT_PACKAGES, commands: Sequence[str] = ("podman", "runc")) -> None:
    """Install Debian packages when a command they provide is missing (root in CI, sudo elsewhere)."""
    if all(shutil.which(c) or Path("/usr/sbin", c).exists() for c in commands):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=True, env=env
    )


def _digest_files(digest: hashlib._Hash, paths: Iterable[Path], root: Path) -> None:
    for path in sorted(paths):
        if path.is_dir():
            _digest_files(digest, (p for p in path.iterdir() if _keyed(p)), root)
        elif path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")


def _keyed(path: Path) -> bool:
    return path.name != "__pycache__" and not path.name.endswith((".pyc", ".egg-info"))


@dataclass(frozen=True)
class Image:
    """One image: imported from a Debian userland, or built from a Containerfile with podman."""

    name: str
    tags: tuple[str, ...]
    """Full references; the first is the one `reference` returns."""
    userland: Userland | None = None
    containerfile: Path | None = None
    context: Path | None = None
    """The build context; default: the Containerfile's directory."""
    build_args: tuple[tuple[str, str], ...] = ()
    bases: tuple[Image, ...] = ()
    """Images its FROM lines name (they are put into podman's storage first)."""
    inputs: tuple[Path, ...] = ()
    """Files and directories of the context that the build copies (they key the image)."""
    prepare: Callable[[Path], None] | None = field(default=None, compare=False)
    """Writes generated files (a compiled binary) into a fresh context directory."""
    prepare_key: str = ""
    """What `prepare` makes from (e.g. a source's version), for the key."""
    network: bool = True
    """RUN steps reach Debian's archive (and PyPI with `pip`): the host's network."""
    pip: bool = False
    """RUN steps use pip: the host's CA bundle and pip configuration are mounted read-only."""
    squash: bool = False
    """One layer (an image made to be a base, from a userland plus a clean-up)."""
    changes: tuple[str, ...] = ('CMD ["bash"]', "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    """For an imported userland: the image configuration the official Debian images have."""

    @property
    def reference(self) -> str:
        return self.tags[0]

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{RECIPE}\n{self.name}\n".encode())
        digest.update("\n".join(self.tags).encode())
        if self.userland is not None:
            digest.update(f"\nuserland {self.userland.key}\n".encode())
            digest.update("\n".join(self.changes).encode())
        if self.containerfile is not None:
            digest.update(b"\ncontainerfile\n" + self.containerfile.read_bytes())
        for name, value in self.build_args:
            digest.update(f"\narg {name}={value}".encode())
        for base in self.bases:
            digest.update(f"\nbase {base.name} {base.key}".encode())
        digest.update(f"\nprepare {self.prepare_key}\n".encode())
        _digest_files(digest, self.inputs, self.context or REPO)
        return digest.hexdigest()[:12]

    @property
    def archive(self) -> Path:
        return cache_dir() / f"{self.name}-{self.key}.tar"

    def is_built(self) -> bool:
        return self.archive.exists()

    def ensure(self, *, quiet: bool = False) -> Path:
        """Build the image unless its archive is cached; return the archive (a docker-archive with every tag)."""
        if self.is_built():
            return self.archive
        with _lock(cache_dir() / f".{self.name}.lock", quiet, self.name):
            if not self.is_built():
                self._build(quiet)
        return self.archive

    # ------------------------------------------------------------------------------------------- internals
    def _in_podman(self) -> bool:
        result = podman("image", "inspect", "--format", f'{{{{index .Labels "{LABEL}"}}}}', self.reference,
                        capture=True, check=False)  # fmt: skip
        return result.returncode == 0 and result.stdout.strip() == self.key

    def load_into_podman(self, *, quiet: bool = False) -> None:
        """Put the image into podman's storage (for a FROM): loaded from its archive, built if there is none."""
        if self._in_podman():
            return
        podman("load", "--quiet", "--input", str(self.ensure(quiet=quiet)), capture=True)

    def _build(self, quiet: bool) -> None:
        ensure_packages()
        started = time.monotonic()
        if not quiet:
            print(f"building image {self.name} (first run only; {self.archive})", flush=True)
        for base in self.bases:
            base.load_into_podman(quiet=quiet)
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=f".{self.name}-") as tmp:
            log = Path(tmp) / "build.log"
            if self.userland is not None:
                tarball = self.userland.tarball()
                changes = [
                    arg for change in (*self.changes, f"LABEL {LABEL}={self.key}") for arg in ("--change", change)
                ]
                _logged(log, [*podman_argv(), "import", *changes, str(tarball), self.reference], self.name)
            else:
                self._podman_build(Path(tmp), log)
            for tag in self.tags[1:]:
                podman("tag", self.reference, tag)
            partial = Path(tmp) / "image.tar"
            podman("save", "--quiet", "--format", "docker-archive", "--output", str(partial), *self.tags, capture=True)
            partial.rename(self.archive)
        for stale in cache_dir().glob(f"{self.name}-*.tar"):
            if stale != self.archive and re.fullmatch(rf"{re.escape(self.name)}-[0-9a-f]{{12}}\.tar", stale.name):
                stale.unlink(missing_ok=True)  # an archive of inputs that changed since: never used again
        if not quiet:
            print(f"built image {self.name} in {time.monotonic() - started:.0f}s", flush=True)

    def _podman_build(self, tmp: Path, log: Path) -> None:
        assert self.containerfile is not None
        context = self.context or self.containerfile.parent
        if self.prepare is not None:
            generated = tmp / "context"
            shutil.copytree(context, generated, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
            self.prepare(generated)
            context = generated
        limit = _ulimit()
        argv = [
            *podman_argv(),
            "build",
            "--pull=never",
            "--layers",
            "--format=docker",
            f"--ulimit=nofile={limit}:{limit}",
            f"--ulimit=nproc={limit}:{limit}",
            f"--label={LABEL}={self.key}",
            *(["--squash-all"] if self.squash else []),
            f"--file={self.containerfile}",
            *(f"--tag={tag}" for tag in self.tags[:1]),
            *(f"--build-arg={name}={value}" for name, value in self.build_args),
        ]
        argv.append("--network=host" if self.network else "--network=none")
        if self.pip:
            argv += _pip_mounts(tmp)
        _logged(log, [*argv, str(context)], self.name)


def _pip_mounts(tmp: Path) -> list[str]:
    """Read-only mounts that let pip inside a build step reach PyPI as it does on this host: the host's CA bundle
    (at a path of its own, so the image's bundle is never overwritten) and a pip configuration naming it plus the
    host's index settings."""
    mounts: list[str] = []
    bundle = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    pip = configparser.ConfigParser()
    for path in (Path("/etc/pip.conf"), Path.home() / ".config/pip/pip.conf", Path.home() / ".pip/pip.conf"):
        with contextlib.suppress(OSError, configparser.Error):
            pip.read(path)
    if not pip.has_section("global"):
        pip.add_section("global")
    for option in ("find-links", "find_links"):  # a host directory, not there inside the build
        pip.remove_option("global", option)
    if bundle.is_file():
        mounts.append(f"--volume={bundle}:/run/devstack/ca-certificates.crt:ro")
        pip.set("global", "cert", "/run/devstack/ca-certificates.crt")
    for variable, option in (("PIP_INDEX_URL", "index-url"), ("PIP_EXTRA_INDEX_URL", "extra-index-url")):
        if value := os.environ.get(variable):
            pip.set("global", option, value)
    conf = tmp / "pip.conf"
    with conf.open("w") as out:
        pip.write(out)
    mounts.append(f"--volume={conf}:/etc/pip.conf:ro")
    return mounts


def _logged(log: Path, argv: list[str], name: str) -> None:
    with log.open("ab") as out:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"building image {name} failed ({result.returncode}):\n{tail}")


@contextlib.contextmanager
def _lock(path: Path, quiet: bool, name: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"waiting for another build of image {name} …", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# ----------------------------------------------------------------------------------------------------- the images
def _debian(suite: str) -> Image:
    userland = Userland(f"debian-{suite}", suite, variant="minbase")
    rootfs = Image(f"debian-{suite}-rootfs", (f"localhost/devstack/debian-rootfs:{suite}",), userland=userland)
    return Image(
        f"debian-{suite}",
        (f"docker.io/library/debian:{suite}-slim",),
        containerfile=HERE / "debian.Containerfile",
        context=HERE,
        build_args=(("ROOTFS", rootfs.reference),),
        bases=(rootfs,),
        network=False,
        squash=True,
    )


DEBIAN = {suite: _debian(suite) for suite in ("bullseye", "bookworm", "trixie")}

PYTHON = Image(
    "python",
    ("docker.io/library/python:3.13.5-slim-trixie", "docker.io/library/python:3.13-slim-trixie"),
    containerfile=HERE / "python.Containerfile",
    bases=(DEBIAN["trixie"],),
)


def _chart_app_version() -> str:
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?', (REPO / "charts/redisbackup/Chart.yaml").read_text(), re.M)
    assert match is not None, "charts/redisbackup/Chart.yaml has no appVersion"
    return match.group(1)


def _operator() -> Image:
    # What .dockerignore lets into the build context, plus the Dockerfile and .dockerignore themselves.
    inputs = (
        REPO / "Dockerfile",
        REPO / ".dockerignore",
        REPO / "pyproject.toml",
        REPO / "README.md",
        REPO / "operator",
    )
    # Two names: one per content (what the demo and the tests install with `--set image.tag`, so a changed tree
    # rolls the Deployment), and the chart's default, which the samples' restore init containers name.
    image = Image("redisbackup", (), containerfile=REPO / "Dockerfile", context=REPO, bases=(PYTHON,), inputs=inputs,
                  pip=True)  # fmt: skip
    return Image(
        image.name,
        (f"localhost/redisbackup:{image.key}", f"ghcr.io/redisbackup/redisbackup:{_chart_app_version()}"),
        containerfile=image.containerfile,
        context=image.context,
        bases=image.bases,
        inputs=image.inputs,
        pip=True,
    )


OPERATOR = _operator()


@dataclass(frozen=True)
class ServerVersion:
    """A Redis or Valkey version users run, as Debian packages it."""

    engine: str  # redis | valkey
    version: str
    suite: str  # the Debian release whose userland runs it
    extra_suite: str = ""  # where the package comes from, when not the release itself (backports)

    @property
    def repository(self) -> str:
        return "docker.io/library/redis" if self.engine == "redis" else "docker.io/valkey/valkey"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.version}"

    def image(self) -> Image:
        minor = ".".join(self.version.split(".")[:2])
        return Image(
            f"{self.engine}-{self.version}",
            (self.reference, f"{self.repository}:{minor}"),
            containerfile=HERE / f"{self.engine}.Containerfile",
            build_args=(
                ("BASE", DEBIAN[self.suite].reference),
                ("VERSION", self.version),
                ("SUITE", self.extra_suite),
            ),
            bases=(DEBIAN[self.suite],),
            inputs=(HERE / "install-server.sh", HERE / "docker-entrypoint.sh"),
            context=HERE,
        )


# The versions of /work/shared/NODE.md's table: what users run, one image each.
SERVER_VERSIONS = (
    ServerVersion("redis", "6.0.16", "bullseye"),
    ServerVersion("redis", "7.0.15", "bookworm"),
    ServerVersion("redis", "8.0.2", "trixie"),
    ServerVersion("valkey", "8.0.1", "bookworm", "bookworm-backports"),
    ServerVersion("valkey", "8.1.1", "trixie"),
)
SERVERS = {f"{v.engine}-{v.version}": v.image() for v in SERVER_VERSIONS}
DEFAULT_REDIS = SERVERS["redis-7.0.15"]  # what the samples run


def _compile_pause(context: Path) -> None:
    source = _kubernetes_source() / "build" / "pause" / "linux" / "pause.c"
    binary = context / "pause"
    version = f"{binaries.KUBERNETES_VERSION}-devstack"
    subprocess.run(["gcc", "-Os", "-static", "-Wall", "-Werror", f"-DVERSION={version}", "-o", str(binary),
                    str(source)], check=True)  # fmt: skip
    subprocess.run(["strip", str(binary)], check=True)


def _kubernetes_source() -> Path:
    """The k8s.io/kubernetes module's directory (downloaded by the control plane's build)."""
    result = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"],
        cwd=binaries.KUBERNETES.module_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(result.stdout.strip())


PAUSE_TAG = "registry.k8s.io/pause:3.10.2"  # kubeadm's PauseVersion for this Kubernetes release
PAUSE = Image(
    "pause",
    (PAUSE_TAG,),
    containerfile=HERE / "pause.Containerfile",
    context=HERE,
    prepare=_compile_pause,
    prepare_key=f"pause.c of k8s.io/kubernetes {binaries.KUBERNETES_VERSION}",
    network=False,
)

# What a node has from its start: the sandbox, the operator, the Redis of the samples, and the local-path
# provisioner's helper (debian:bookworm-slim). Other Redis versions are loaded when a test asks (Node.load_images).
RUNTIME: tuple[Image, ...] = (PAUSE, OPERATOR, DEFAULT_REDIS, DEBIAN["bookworm"])
ALL: dict[str, Image] = {image.name: image for image in (*DEBIAN.values(), PYTHON, PAUSE, OPERATOR, *SERVERS.values())}


def ensure_all(names: Sequence[str] = (), *, quiet: bool = False) -> list[Image]:
    selected = [ALL[name] for name in names] if names else list(ALL.values())
    for image in selected:
        image.ensure(quiet=quiet)
    return selected


def main(argv: Sequence[str]) -> int:
    unknown = [name for name in argv if name not in ALL]
    if unknown:
        print(f"unknown image(s) {', '.join(unknown)}; known: {', '.join(ALL)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    for image in ensure_all(argv):
        size = image.archive.stat().st_size / 2**20
        print(f"{image.name:<16} {image.reference:<48} {size:6.0f} MiB  {image.archive}")
    print(f"images ready in {time.monotonic() - started:.1f}s")
    return 0
