"""Ordinary commands go through redis-py (redisbackup.redis.client) on real servers: a narrow ACL user is enough,
error replies keep their code, TLS verifies the configured server name, and faults read as on the SYNC path."""

from __future__ import annotations

import pytest

from devstack.redis_nodes import Topology
from redisbackup.domain.source import ConnectionSettings, RedisCredentials, TlsSettings
from redisbackup.redis.client import RedisClient
from redisbackup.redis.connection import RespError
from redisbackup.redis.faults import RedisAuthenticationFailed, RedisUnreachable
from redisbackup.redis.info import describe_node
from tests.e2e.datapath_support import address, connection

pytestmark = pytest.mark.e2e


async def test_the_backup_acl_user_needs_nothing_but_its_rules_and_the_client_sends_nothing_else(
    redis_acl: Topology,
) -> None:
    node = redis_acl.primary
    with node.client() as admin:  # one connection: its own HELLO is counted before the reset
        admin.config_resetstat()
        server = await describe_node(address(node), connection(node))  # +info, no HELLO, no CLIENT SETINFO
        commands = admin.info("commandstats")
    assert server.engine in ("redis", "valkey")
    assert server.role == "primary"
    called = {name.removeprefix("cmdstat_") for name in commands} - {"config|resetstat"}
    assert called == {"auth", "info"}, f"the client sent more than AUTH and INFO: {called}"


async def test_error_replies_keep_their_code_and_faults_name_the_node(redis_password: Topology) -> None:
    node = redis_password.primary
    client = await RedisClient.open(address(node), connection(node))
    try:
        reply = await client.command("NOSUCHCOMMAND")
        assert isinstance(reply, RespError)
        assert reply.message.startswith("ERR unknown command")
        assert await client.call("SET", "k", "v") == b"OK"
        assert await client.pipeline([("GET", "k"), ("INCR", "k"), ("GET", "missing")]) == [
            b"v",
            RespError("ERR value is not an integer or out of range"),
            None,
        ]
    finally:
        await client.close()
    with pytest.raises(RedisAuthenticationFailed, match=f"authentication to {address(node)} failed.*WRONGPASS"):
        await RedisClient.open(address(node), connection(node, password="wrong"))
    anonymous = await RedisClient.open(address(node), ConnectionSettings(credentials=RedisCredentials()))
    try:
        with pytest.raises(RedisAuthenticationFailed, match="requires a password and none was given"):
            await anonymous.call("INFO")
    finally:
        await anonymous.close()


async def test_a_stale_password_for_a_server_without_one_is_ignored_as_redis_cli_does(
    redis_standalone: Topology,
) -> None:
    node = redis_standalone.primary
    settings = ConnectionSettings(credentials=RedisCredentials(None, "left-over"))
    client = await RedisClient.open(address(node), settings)
    try:
        assert await client.call("PING") == b"PONG"
    finally:
        await client.close()


async def test_tls_verifies_the_server_name_it_is_given_not_the_address(redis_tls: Topology) -> None:
    node = redis_tls.primary
    assert node.tls is not None
    named = TlsSettings(ca_file=str(node.tls.ca), server_name="localhost")  # a name the certificate holds
    client = await RedisClient.open(
        address(node), ConnectionSettings(credentials=connection(node).credentials, tls=named)
    )
    try:
        assert await client.call("PING") == b"PONG"
    finally:
        await client.close()
    wrong = TlsSettings(ca_file=str(node.tls.ca), server_name="redis.elsewhere.example")
    with pytest.raises(RedisUnreachable, match="failed certificate verification") as raised:
        await RedisClient.open(address(node), ConnectionSettings(credentials=connection(node).credentials, tls=wrong))
    assert not raised.value.transient
