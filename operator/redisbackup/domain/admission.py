"""Turning the API's violations into the typed fault the reconciler fails a RedisBackup with."""

from __future__ import annotations

from collections.abc import Sequence

from redisbackup.api.violations import Violation
from redisbackup.domain.faults import ValidationFault


def fault_for(violations: Sequence[Violation]) -> ValidationFault | None:
    """One ValidationFault carrying the first violation's code and field and every message; None when valid."""
    if not violations:
        return None
    first, *rest = violations
    # str(fault) prefixes the first code itself: "Code: message; Code: message; …", as the webhook words it.
    message = "; ".join([first.message, *(str(v) for v in rest)])
    return ValidationFault(message, code=first.code, field=first.field)
