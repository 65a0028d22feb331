"""How to reach a Redis node: address, credentials and TLS settings, as plain data.

The operator fills these from Pods and Secrets, the CLI from a redis:// URL; the redis layer only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class NodeAddress:
    """A TCP address, or a Unix socket when `host` is an absolute path (a local throwaway server's socket)."""

    host: str
    port: int = 6379

    @property
    def is_unix_socket(self) -> bool:
        return self.host.startswith("/")

    def __str__(self) -> str:
        if self.is_unix_socket:
            return self.host
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def unix_socket(cls, path: str) -> NodeAddress:
        return cls(path, 0)


@dataclass(frozen=True)
class RedisCredentials:
    """AUTH for a node: a password (requirepass or the default user), or an ACL username and password."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def describe(self) -> str:
        """Who we authenticate as, for messages (never the password)."""
        if self.password is None:
            return "no credentials"
        return f"ACL user {self.username!r}" if self.username else "the default user's password"


NO_CREDENTIALS = RedisCredentials()


@dataclass(frozen=True)
class TlsSettings:
    """TLS to Redis. Verification is on unless `verify=False` (for test set-ups only)."""

    ca_file: str | None = None  # PEM bundle of CAs to trust; None and no ca_data: the system trust store
    ca_data: str | None = field(default=None, repr=False)  # PEM text, e.g. from a Secret
    cert_file: str | None = None  # client certificate for servers with tls-auth-clients yes
    key_file: str | None = None
    server_name: str | None = None  # name to verify instead of the node's address (certificates for DNS names)
    verify: bool = True


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to talk to every node of one source (all nodes share credentials and TLS)."""

    credentials: RedisCredentials = NO_CREDENTIALS
    tls: TlsSettings | None = None
