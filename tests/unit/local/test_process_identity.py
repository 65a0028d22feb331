"""Operator process identities: unique across pid reuse and reboots, and seen as running only when they are."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from redisbackup.local.process_identity import ProcessIdentity, is_running, this_process


def test_this_process_is_running_and_its_identity_reads_back() -> None:
    me = this_process()
    assert ProcessIdentity.parse(str(me)) == me
    assert is_running(me) is True


def test_a_process_that_has_exited_is_not_running_even_if_its_pid_is_reused() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "print(open('/proc/self/stat').read())"], capture_output=True, text=True, check=True
    )
    start = int(child.stdout.rpartition(")")[2].split()[19])
    pid = int(child.stdout.split()[0])
    gone = dataclasses.replace(this_process(), pid=pid, start=start)
    assert is_running(gone) is False
    reused = dataclasses.replace(this_process(), start=this_process().start + 1)  # our pid, another start time
    assert is_running(reused) is False


def test_a_process_of_another_host_or_pid_namespace_cannot_be_seen_and_one_before_a_reboot_is_gone() -> None:
    me = this_process()
    assert is_running(dataclasses.replace(me, host="operator-7d9f-abcde")) is None
    assert is_running(dataclasses.replace(me, pid_namespace="4026530000")) is None
    assert is_running(dataclasses.replace(me, boot="00000000")) is False


def test_anything_else_in_the_lease_is_not_an_identity() -> None:
    assert ProcessIdentity.parse("") is None
    assert ProcessIdentity.parse("host/abc/1/boot/ns") is None
    assert ProcessIdentity.parse("a/b") is None
