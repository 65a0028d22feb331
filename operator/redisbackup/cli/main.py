"""Entry point of the `redisbackup` command.

Each sub-command lives in its own module with a `register(subparsers)` function that adds its parser and sets
`handler` (a function taking the parsed namespace and returning the exit code). This module only wires them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn

from redisbackup import __version__

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _command_modules() -> list[ModuleType]:
    # Imported here, not at module level, so `redisbackup --help` stays fast and a broken optional
    # dependency of one command cannot take down the others.
    from redisbackup.cli import commands

    return commands.all_modules()


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with `usage_exit_code`: 2 as usual, 252 for the commands that
    mirror `aws elasticache` (aws's code for an invalid command line)."""

    usage_exit_code = 2

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.usage_exit_code, f"{self.prog}: error: {message}\n")


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="redisbackup",
        description="ElastiCache-style manual backups (snapshots) for Redis on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"redisbackup {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def _subcommand(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            chosen: argparse.ArgumentParser = action.choices[name]
            return chosen
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # reported by the sub-command's parser, so its usage (and exit code) is the one shown
        _subcommand(parser, getattr(args, "command", None)).error(f"unrecognized arguments: {' '.join(extras)}")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
