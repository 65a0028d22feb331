"""Redis Cluster hash slots: which slot a key belongs to, and slot sets as a manifest records them ("0-5460,…").

A key's slot is CRC16-XMODEM of the key modulo 16384, where a key containing `{…}` with at least one character
between the first `{` and the next `}` hashes only that part (a "hash tag"), so related keys share a slot.
"""

from __future__ import annotations

import anycrc

from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.plan import SLOT_COUNT, SlotRange

_CRC16 = anycrc.Model("CRC16-XMODEM")


def key_slot(key: bytes) -> int:
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return int(_CRC16.calc(key)) % SLOT_COUNT


def parse_slots(text: str) -> tuple[SlotRange, ...]:
    """ "0-100,200-300" or "5" → sorted ranges; ValidationFault on anything else."""
    ranges = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            bounds = SlotRange(int(first), int(last or first))
        except ValueError:
            raise ValidationFault(f"slots {text!r}: {part!r} is not a slot or a range such as 0-5460") from None
        if not 0 <= bounds.first <= bounds.last < SLOT_COUNT:
            raise ValidationFault(f"slots {text!r}: {part!r} is outside 0-{SLOT_COUNT - 1} or reversed")
        ranges.append(bounds)
    return tuple(sorted(ranges))


class SlotSet:
    """Membership test for a set of ranges (a shard's slots)."""

    def __init__(self, ranges: tuple[SlotRange, ...]) -> None:
        self.ranges = ranges
        self._owned = bytearray(SLOT_COUNT)
        for bounds in ranges:
            self._owned[bounds.first : bounds.last + 1] = b"\x01" * bounds.count

    def __contains__(self, slot: int) -> bool:
        return bool(self._owned[slot])

    def __len__(self) -> int:
        return sum(bounds.count for bounds in self.ranges)
