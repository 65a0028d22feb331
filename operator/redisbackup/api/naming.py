"""ElastiCache's naming rules for snapshot names and source identifiers, defined once.

The same `NamingRule` table feeds every layer that checks a name: the CRD (an OpenAPI `pattern`/`maxLength` plus
one CEL rule per naming rule, so the apiserver rejects a bad name with our wording even when the webhook is down),
the admission webhook, the reconciler's re-check and `redisbackup validate`. Each rule has a Python check, the
equivalent CEL expression, the regular expression a browser checks it with (the console checks a name as the
user types it: `browser_rules`) and one message, so they can never drift apart.

The rules (ElastiCache's "naming constraints"): 1 to N characters, ASCII letters, digits or hyphens only, begins
with a letter, no two consecutive hyphens, does not end with a hyphen. Python pitfalls avoided on purpose:
`str.isalnum()`/`\\w`/`\\d` accept non-ASCII letters and digits, and `$` matches before a trailing newline, so
every check uses explicit ASCII classes and `fullmatch`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redisbackup.api.cel import cel_rule
from redisbackup.api.faults import FaultCode

# RE2-safe (the apiserver evaluates `pattern` and CEL `matches` with Go's regexp): a letter, then letters/digits
# each optionally preceded by a single hyphen. This forbids "--" and a trailing "-" without look-arounds.
NAME_PATTERN = "^[A-Za-z](-?[A-Za-z0-9])*$"
_NAME = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9])*")
_ALLOWED_CHARACTERS = re.compile(r"[A-Za-z0-9-]*")
_ASCII_LETTER = re.compile(r"[A-Za-z]")

SNAPSHOT_NAME_MAX_LENGTH = 20
IDENTIFIER_MAX_LENGTH = 50


@dataclass(frozen=True)
class NamingRule:
    """One naming constraint: how Python checks it, how CEL checks it, and what the user is told."""

    key: str
    broken: Callable[[str, int], bool]
    """True when `value` breaks the rule (second argument: the maximum length)."""
    cel: str
    """CEL expression over `self` (the string) that holds when the rule is kept; `{max}` is filled in."""
    violation: str
    """A regular expression (ECMAScript and Python alike) that finds a break of the rule in a one-line value, for
    the console's live check in the browser; `{max}` is filled in."""
    message: str
    """What the user reads; `{field}`, `{max}` and `{what}` are filled in."""

    def describe(self, field: str, what: str, max_length: int) -> str:
        return self.message.format(field=field, what=what, max=max_length)


# Order matters only for reading: every broken rule is reported, not just the first.
NAMING_RULES: tuple[NamingRule, ...] = (
    NamingRule(
        key="empty",
        broken=lambda value, _max: len(value) == 0,
        cel="size(self) >= 1",
        violation=r"^$",
        message="{field} is empty: name the {what} with 1 to {max} characters",
    ),
    NamingRule(
        key="too-long",
        broken=lambda value, max_length: len(value) > max_length,
        cel="size(self) <= {max}",
        violation=r"^[\s\S]{{{max}}}[\s\S]",
        message="{field} is longer than {max} characters: shorten it to at most {max}",
    ),
    NamingRule(
        key="first-character",
        broken=lambda value, _max: len(value) > 0 and _ASCII_LETTER.fullmatch(value[0]) is None,
        cel="size(self) == 0 || self.matches('^[A-Za-z]')",
        violation=r"^[^A-Za-z]",
        message="{field} must begin with an ASCII letter (A-Z or a-z): start the name with a letter",
    ),
    NamingRule(
        key="characters",
        broken=lambda value, _max: _ALLOWED_CHARACTERS.fullmatch(value) is None,
        cel="self.matches('^[A-Za-z0-9-]*$')",
        violation=r"[^A-Za-z0-9-]",
        message=(
            "{field} may contain only ASCII letters, digits and hyphens: "
            "remove spaces, underscores, dots and non-ASCII characters"
        ),
    ),
    NamingRule(
        key="consecutive-hyphens",
        broken=lambda value, _max: "--" in value,
        cel="!self.contains('--')",
        violation=r"--",
        message="{field} cannot contain two consecutive hyphens: use a single hyphen between words",
    ),
    NamingRule(
        key="trailing-hyphen",
        broken=lambda value, _max: value.endswith("-"),
        cel="!self.endsWith('-')",
        violation=r"-$",
        message="{field} cannot end with a hyphen: remove the trailing hyphen or end with a letter or digit",
    ),
)


@dataclass(frozen=True)
class NameKind:
    """A name that follows the naming rules: the snapshot name, or a source identifier."""

    field: str
    """Where the name sits in a RedisBackup, as users write it (`spec.snapshotName`)."""
    what: str
    max_length: int

    def broken_rules(self, value: str) -> list[NamingRule]:
        return [rule for rule in NAMING_RULES if rule.broken(value, self.max_length)]

    def message(self, rule: NamingRule) -> str:
        return rule.describe(self.field, self.what, self.max_length)

    def is_valid(self, value: str) -> bool:
        return len(value) <= self.max_length and _NAME.fullmatch(value) is not None

    def browser_rules(self) -> dict[str, Any]:
        """The rules as the console's script checks them: each rule's violation pattern and message (JSON)."""
        return {
            "field": self.field,
            "maxLength": self.max_length,
            "rules": [
                {
                    "key": rule.key,
                    "violation": rule.violation.format(max=self.max_length),
                    "message": self.message(rule),
                }
                for rule in NAMING_RULES
            ],
        }

    def cel_rules(self) -> list[dict[str, str]]:
        code = FaultCode.INVALID_PARAMETER_VALUE
        return [cel_rule(rule.cel.format(max=self.max_length), code, self.message(rule)) for rule in NAMING_RULES]


SNAPSHOT_NAME = NameKind(field="spec.snapshotName", what="snapshot", max_length=SNAPSHOT_NAME_MAX_LENGTH)
CACHE_CLUSTER_ID = NameKind(field="spec.cacheClusterId", what="Redis node to back up", max_length=IDENTIFIER_MAX_LENGTH)
REPLICATION_GROUP_ID = NameKind(
    field="spec.replicationGroupId", what="Redis Cluster to back up", max_length=IDENTIFIER_MAX_LENGTH
)
SOURCE_SNAPSHOT_NAME = NameKind(
    field="spec.sourceSnapshotName", what="snapshot to copy", max_length=SNAPSHOT_NAME_MAX_LENGTH
)


def resolved_identifier(identifier: str) -> str:
    """The Kubernetes object name a source identifier resolves to.

    ElastiCache stores cluster and replication group ids in lower case, so `myNonClusteredRedis-001` names the
    same node as `mynonclusteredredis-001`; Kubernetes object names are lower case too.
    """
    return identifier.lower()


def same_snapshot_name(a: str, b: str) -> bool:
    """Snapshot names are compared without regard to case, as ElastiCache compares its identifiers."""
    return a.lower() == b.lower()


def suggested_snapshot_name(source: str, when: dt.datetime) -> str:
    """A snapshot name that says which cluster was backed up, and when, as the seed recommends (e.g.
    `mycluste-240515-1230`): as much of the source's name as fits before `-YYMMDD-HHMM`, within the naming rules."""
    stamp = when.astimezone(dt.UTC).strftime("-%y%m%d-%H%M")
    room = SNAPSHOT_NAME_MAX_LENGTH - len(stamp)
    prefix = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "", source))
    prefix = re.sub(r"^[^A-Za-z]+", "", prefix)[:room].rstrip("-") or "backup"
    return prefix + stamp


def constraints(kind: NameKind) -> list[str]:
    """ElastiCache's own summary of the rules ("Cluster naming constraints"), shown under a name's text box."""
    return [
        f"Must contain from 1 to {kind.max_length} alphanumeric characters or hyphens.",
        "Must begin with a letter.",
        "Cannot contain two consecutive hyphens.",
        "Cannot end with a hyphen.",
    ]
