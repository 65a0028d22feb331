"""Entry point of the `redisbackup` command.

Each sub-command lives in its own module with a `register(subparsers)` function that adds its parser and sets
`handler` (a function taking the parsed namespace and returning the exit code). This module only wires them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn


def _registered_modules(command: str | None) -> list[ModuleType]:
    # Imported here, not at module level, and only the chosen command's module: `redisbackup --help` and a
    # command's start-up import nothing another command needs, and a broken optional dependency of one command
    # cannot take down the others.
    from redisbackup.cli import commands

    if command is None:
        return commands.all_modules()
    if command in commands.COMMANDS:
        return [commands.module_of(command)]
    return []


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with `usage_exit_code`: 2 as usual, 252 for the commands that
    mirror `aws elasticache` (aws's code for an invalid command line)."""

    usage_exit_code = 2

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.usage_exit_code, f"{self.prog}: error: {message}\n")


class _VersionAction(argparse.Action):
    """argparse's "version" action, with the version looked up only when asked for (see redisbackup.__init__)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        import redisbackup

        parser.exit(message=f"redisbackup {redisbackup.__version__}\n")


def chosen_command(argv: Sequence[str]) -> str:
    """The sub-command an argument list names ("" when none): the top-level options take no values, so it is
    the first argument that is not an option."""
    return next((a for a in argv if not a.startswith("-")), "")


def build_parser(command: str | None = None) -> CommandParser:
    """The parser with every sub-command (command None), or with only `command` (one of the table's). For any
    other `command` (none, or a typo) every sub-command is listed by its summary only: enough for the top-level
    help and argparse's "invalid choice" message, without importing their modules."""
    from redisbackup.cli import commands

    parser = CommandParser(
        prog="redisbackup",
        description="ElastiCache-style manual backups (snapshots) for Redis on Kubernetes.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _registered_modules(command):
        module.register(subparsers)
    if command in commands.COMMANDS:
        return parser  # the others' placeholders would only cost start-up (a `make bench` figure)
    for name, entry in commands.COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=entry.summary, add_help=False)
    return parser


def _subcommand(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            chosen: argparse.ArgumentParser = action.choices[name]
            return chosen
    return parser


PLUGINS_SWITCH = "PYDANTIC_DISABLE_PLUGINS"


def run_without_pydantic_plugins(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """`handler(args)` with pydantic's plugins off (its own switch, PYDANTIC_DISABLE_PLUGINS), then as before.

    pydantic looks for plugins — the entry points of every installed distribution — when it builds its first
    model: about 15 ms of a command's start-up (a `make bench` figure) for plugins a one-shot command has no use
    for. A value the user set is kept (an empty one loads every plugin again)."""
    if PLUGINS_SWITCH in os.environ:
        return handler(args)
    os.environ[PLUGINS_SWITCH] = "__all__"
    try:
        return handler(args)
    finally:
        os.environ.pop(PLUGINS_SWITCH, None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(chosen_command(argv))
    args, extras = parser.parse_known_args(argv)
    if extras:  # reported by the sub-command's parser, so its usage (and exit code) is the one shown
        _subcommand(parser, getattr(args, "command", None)).error(f"unrecognized arguments: {' '.join(extras)}")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    from redisbackup.cli import commands

    if args.command in commands.SERVERS:
        code: int = handler(args)
        return code
    return run_without_pydantic_plugins(handler, args)


if __name__ == "__main__":
    sys.exit(main())
