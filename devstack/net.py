"""Loopback addresses and free ports for the servers of the local stack.

Every Redis node gets its own 127.0.0.x address, as every Pod gets its own IP in a real cluster; the operator then
finds nodes by podIP exactly as it will in production. Only loopback addresses are ever used.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading

_lock = threading.Lock()
# Start at a random offset per process so two test runs on one machine rarely collide; 127.0.0.1 stays for the
# control plane and S3. Linux routes the whole 127.0.0.0/8 to lo, so binding these needs no set-up.
_hosts = itertools.cycle(range(2, 255))
for _ in range(random.Random(os.getpid()).randrange(0, 250)):
    next(_hosts)


def next_host() -> str:
    """A 127.0.0.x address (x in 2..254) for a new node."""
    with _lock:
        return f"127.0.0.{next(_hosts)}"


# A port is never handed out twice by one process: bind(0) may return a port it returned a moment ago, before the
# first taker bound it (CI once gave an operator the same metrics and health port). The oldest picks are forgotten,
# so a long session never runs out: by then they are long bound or long gone.
_REUSE_AFTER = 4096
_given: set[int] = set()
_order: list[int] = []


def _take(*ports: int) -> None:
    for port in ports:
        _given.add(port)
        _order.append(port)
    while len(_order) > _REUSE_AFTER:
        _given.discard(_order.pop(0))


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _kernel_pick(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on `host` right now (bind to 0 and let the kernel pick), never one this process was
    given before."""
    with _lock:
        for _ in range(1000):
            port = _kernel_pick(host)
            if port not in _given:
                _take(port)
                return port
    raise RuntimeError(f"the kernel kept picking ports on {host} this process was given already")


def free_port_pair(host: str, offset: int) -> tuple[int, int]:
    """Ports p and p + `offset` that are both free on `host` now: Redis before 7.0 always puts its cluster bus on
    port + 10000, so p must stay below 65536 - offset (the kernel's picks often do not)."""
    with _lock:
        for _ in range(200):
            port = random.randrange(20000, 65536 - offset)
            pair = (port, port + offset)
            if not any(p in _given for p in pair) and all(_bindable(host, p) for p in pair):
                _take(*pair)
                return pair
    raise RuntimeError(f"no free pair of ports {offset} apart on {host}")


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until a TCP connect to host:port succeeds, or raise TimeoutError."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.05)
