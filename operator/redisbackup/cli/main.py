"""Entry point of the `redisbackup` command.

Each sub-command lives in its own module with a `register(subparsers)` function that adds its parser and sets
`handler` (a function taking the parsed namespace and returning the exit code). This module only wires them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from redisbackup import __version__

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _command_modules() -> list[ModuleType]:
    # Imported here, not at module level, so `redisbackup --help` stays fast and a broken optional
    # dependency of one command cannot take down the others.
    from redisbackup.cli import commands

    return commands.all_modules()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redisbackup",
        description="ElastiCache-style manual backups (snapshots) for Redis on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"redisbackup {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
