"""Faults a Redis node causes, and the mapping from the server's error replies onto them.

Each message names the node (host:port), what failed and what to do next; none ever contains a password.
"""

from __future__ import annotations

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import SnapshotFault
from redisbackup.domain.source import RedisCredentials

REPLICATION_COMMANDS = frozenset({"SYNC", "PSYNC", "REPLCONF"})


class RedisUnreachable(SnapshotFault):
    code = FaultCode.REDIS_UNREACHABLE
    transient = True


class RedisAuthenticationFailed(SnapshotFault):
    code = FaultCode.REDIS_AUTHENTICATION_FAILED


class SyncNotPermitted(SnapshotFault):
    """The node will not serve a replica to us: ACL without SYNC/PSYNC/REPLCONF, or the command is renamed."""

    code = FaultCode.SYNC_NOT_PERMITTED


class CommandNotPermitted(SnapshotFault):
    code = FaultCode.COMMAND_NOT_PERMITTED


class RedisBusy(SnapshotFault):
    """The node did not serve the snapshot (it accepted SYNC and never sent the RDB, or refused a command for a
    reason of its own): a failed attempt, tried again later."""

    code = FaultCode.REDIS_BUSY
    transient = True


class RedisNotReady(RedisBusy):
    """The node says it cannot serve a snapshot *yet*: loading its data set, running a long script, a replica
    without its primary. The snapshot waits — this is not a failed attempt, and a large data set may take many
    minutes to load — until limits.busyDeadlineSeconds after the wait began."""


class ConnectionLost(SnapshotFault):
    code = FaultCode.CONNECTION_LOST
    transient = True


class UnexpectedReply(SnapshotFault):
    """The peer answered in a way no Redis server does: probably not Redis (or a proxy in front of it)."""

    code = FaultCode.NOT_AN_RDB


def fault_for_error(node: str, command: str, error: str, credentials: RedisCredentials) -> SnapshotFault:
    """Turn a RESP error reply (without the leading '-') to `command` into the fault a user can act on."""
    prefix = error.split(" ", 1)[0].upper()
    lowered = error.lower()
    who = credentials.describe
    if prefix in ("WRONGPASS", "NOAUTH") or "invalid password" in lowered or "invalid username" in lowered:
        if prefix == "NOAUTH":
            hint = (
                "it requires a password and none was given: set the credentials "
                "(auth.secretRef, or user:password@ in the URL)"
            )
        else:
            hint = f"it rejected {who}: check the password (and the ACL username) in the secret or URL"
        return RedisAuthenticationFailed(f"authentication to {node} failed: {hint}. The server said: {error}")
    if prefix == "NOPERM" or "unknown command" in lowered:
        if command in REPLICATION_COMMANDS:
            why = f"{who} may not run {command}" if prefix == "NOPERM" else f"{command} is disabled or renamed on it"
            return SyncNotPermitted(
                f"{node} refused to stream a snapshot: {why}. A snapshot needs SYNC, PSYNC and REPLCONF "
                "(ACL: +sync +psync +replconf +info, plus +cluster|shards +cluster|nodes +cluster|info for "
                f"clusters) and no rename-command of them. The server said: {error}"
            )
        return CommandNotPermitted(
            f"{node} refused {command}, which a snapshot needs: grant it to {who} (or undo its rename-command). "
            f"The server said: {error}"
        )
    if prefix in ("LOADING", "BUSY", "MASTERDOWN", "NOMASTERLINK", "TRYAGAIN"):
        return RedisNotReady(
            f"{node} cannot serve a snapshot right now ({error}); the snapshot will be retried. If it is a replica "
            "that lost its primary, choose another node.",
            retry_after=10.0,
        )
    return RedisBusy(f"{node} refused {command}: {error}. Retrying may help; check the server's log if it persists.")
