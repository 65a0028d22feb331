"""MaxRecords and Marker, as ElastiCache's Describe operations page their answers.

A Marker is opaque to clients: ours is the sort key of the first record of the next page (base64), so a page
stays right when records before it are deleted meanwhile, and botocore's paginator (which sends back whatever
Marker the last page had) walks every record exactly once.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from redisbackup.domain.faults import ValidationFault

T = TypeVar("T")
SortKey = tuple[str, ...]


@dataclass(frozen=True)
class Paging:
    """ElastiCache's bounds of MaxRecords for one operation."""

    minimum: int
    maximum: int

    def records(self, max_records: int | None) -> int:
        if max_records is None:
            return self.maximum
        if not self.minimum <= max_records <= self.maximum:
            raise ValidationFault(
                f"MaxRecords {max_records} is out of range: give {self.minimum} to {self.maximum} (default "
                f"{self.maximum}), and follow Marker for the next page",
                field="MaxRecords",
            )
        return max_records


SNAPSHOTS = Paging(20, 50)
CACHE_CLUSTERS = Paging(20, 100)
REPLICATION_GROUPS = Paging(20, 100)


def _encode(key: SortKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode(marker: str) -> SortKey:
    try:
        key = json.loads(base64.urlsafe_b64decode(marker.encode()))
    except (ValueError, binascii.Error, UnicodeError):
        key = None
    if not isinstance(key, list) or not all(isinstance(part, str) for part in key):
        raise ValidationFault(
            f"Marker {marker!r} is not one this API returned: send back the Marker of the previous page unchanged",
            field="Marker",
        )
    return tuple(key)


def page(
    records: Sequence[T], key: Callable[[T], SortKey], *, paging: Paging, max_records: int | None, marker: str | None
) -> tuple[list[T], str | None]:
    """The page of `records` (sorted here by `key`) that starts at `marker`, and the Marker of the next one."""
    size = paging.records(max_records)
    ordered = sorted(records, key=key)
    if marker:
        start = _decode(marker)
        ordered = [record for record in ordered if key(record) >= start]
    chosen, rest = ordered[:size], ordered[size:]
    return chosen, (_encode(key(rest[0])) if rest else None)
