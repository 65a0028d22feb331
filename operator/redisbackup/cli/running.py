"""Running an async command the same way everywhere: logging, faults on stderr, exit codes.

Exit status: 0 done; 1 a fault (printed as `redisbackup COMMAND: Code: message`); 2 bad usage (argparse);
3 a configuration file that cannot be used; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from redisbackup.cli.config_file import ConfigError
from redisbackup.cli.progress import ProgressLine
from redisbackup.domain.faults import RedisBackupError

EXIT_OK, EXIT_FAULT, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 3, 130


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_async(
    command: str,
    main: Callable[[], Coroutine[Any, Any, int]],
    *,
    progress: ProgressLine | None = None,
    interrupted: str = "interrupted",
) -> int:
    try:
        return asyncio.run(main())
    except RedisBackupError as fault:
        if progress:
            progress.close()
        print(f"redisbackup {command}: {fault}", file=sys.stderr)
        return EXIT_FAULT
    except ConfigError as error:
        if progress:
            progress.close()
        print(f"redisbackup {command}: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        if progress:
            progress.close()
        print(f"redisbackup {command}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
