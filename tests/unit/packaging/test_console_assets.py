"""Every file the console serves or renders ships in the package (the wheel and the image): no CDN, and nothing
that only works from a source checkout."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import redisbackup

PACKAGE = Path(redisbackup.__file__).parent
ROOT = Path(__file__).resolve().parents[3]


def test_every_template_and_static_asset_of_the_console_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["redisbackup"]
    assets = [
        path.relative_to(PACKAGE).as_posix()
        for folder in ("console/templates", "console/static")
        for path in sorted((PACKAGE / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert any(name.endswith("console.js") for name in assets)
    assert any(name.endswith("base.html") for name in assets)
    unshipped = [name for name in assets if not any(fnmatch.fnmatch(name, glob) for glob in globs)]
    assert unshipped == [], f"add these to [tool.setuptools.package-data] in pyproject.toml: {unshipped}"
