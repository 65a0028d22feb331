"""S3 part sizes: every object up to 5 TiB fits in 10,000 parts, within S3's per-part limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from redisbackup.storage.multipart import (
    MIB,
    S3_MAX_OBJECT,
    S3_MAX_PART,
    S3_MAX_PARTS,
    S3_MIN_PART,
    base_part_size,
    part_size,
)


def capacity(base: int) -> int:
    """The largest object 10,000 parts hold with this base size."""
    return sum(part_size(n, base) for n in range(1, S3_MAX_PARTS + 1))


@given(st.integers(min_value=1, max_value=S3_MAX_OBJECT))
def test_the_expected_size_fits_in_the_first_9000_parts(expected: int) -> None:
    base = base_part_size(expected)
    assert S3_MIN_PART <= base <= S3_MAX_PART
    assert base % MIB == 0
    assert base * 9000 >= expected


def test_five_tib_fits_in_10000_parts() -> None:
    assert capacity(base_part_size(S3_MAX_OBJECT)) >= S3_MAX_OBJECT


def test_without_an_estimate_parts_start_small_and_still_hold_over_a_tib() -> None:
    base = base_part_size(None)
    assert base == 8 * MIB
    assert capacity(base) > 1 << 40


@given(st.integers(min_value=1, max_value=S3_MAX_PARTS), st.sampled_from([8 * MIB, 64 * MIB, 600 * MIB]))
def test_no_part_is_ever_larger_than_s3_allows(number: int, base: int) -> None:
    assert S3_MIN_PART <= part_size(number, base) <= S3_MAX_PART


@given(st.integers(min_value=1, max_value=S3_MAX_OBJECT))
def test_an_estimate_three_times_too_low_still_fits(actual: int) -> None:
    # Diskless transfers are sized from used_memory, which an RDB rarely exceeds; this is the safety margin.
    assert capacity(base_part_size(actual // 3)) >= actual


@given(st.integers(min_value=1, max_value=100 << 30))
def test_below_100_gib_an_estimate_twenty_times_too_low_still_fits(actual: int) -> None:
    assert capacity(base_part_size(actual // 20)) >= actual
