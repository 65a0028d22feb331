"""Choosing S3 multipart part sizes so any RDB fits in S3's 10,000 parts while memory stays small.

S3's rules: 1-10,000 parts, each 5 MiB-5 GiB except the last, objects up to 5 TiB. Parts may differ in size.
We size parts from the expected size (exact for disk-based SYNC, `used_memory` for diskless, or nothing) so the
whole object fits in the first 9,000 equal parts, and double the size every 100 parts after that: a safety net
for an estimate that was too low, that costs nothing when it was right. Memory is about part size x (parts in
flight + 1), so small RDBs get small parts.
"""

from __future__ import annotations

MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40
S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * GIB
S3_MAX_PARTS = 10_000
S3_MAX_OBJECT = 5 * TIB

DEFAULT_MIN_PART = 8 * MIB
FLAT_PARTS = 9_000
GROWTH_STEP = 100


def base_part_size(expected_size: int | None, *, minimum: int = DEFAULT_MIN_PART) -> int:
    """The part size for parts 1-9,000: the expected size spread over 9,000 parts, in whole MiB."""
    minimum = max(S3_MIN_PART, minimum)
    if not expected_size or expected_size <= 0:
        return minimum
    spread = -(-min(expected_size, S3_MAX_OBJECT) // FLAT_PARTS)
    whole_mib = -(-spread // MIB) * MIB
    return min(S3_MAX_PART, max(minimum, whole_mib))


def part_size(part_number: int, base: int) -> int:
    """Size of part `part_number` (1-based): `base` up to part 9,000, then doubling every 100 parts."""
    if part_number <= FLAT_PARTS:
        return base
    doublings = (part_number - FLAT_PARTS - 1) // GROWTH_STEP + 1
    return min(S3_MAX_PART, base << doublings)
