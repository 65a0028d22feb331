"""Property test: the naming rules against an independent reference, over well over 10,000 generated strings.

The reference is written differently on purpose (explicit character sets and a pairwise scan, no regular
expressions), so a shared mistake — `\\w`, `str.isalnum()`, `$` before a trailing newline — cannot hide in both.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redisbackup.api.naming import CACHE_CLUSTER_ID, NAME_PATTERN, SNAPSHOT_NAME, NameKind, suggested_snapshot_name

LETTERS = frozenset(string.ascii_letters)
DIGITS = frozenset("0123456789")
ALLOWED = LETTERS | DIGITS | {"-"}

TRICKY = (
    "éßİǅΩжя"  # non-ASCII letters (str.isalpha() is True)
    "٣६߂①²"  # non-ASCII digits (str.isdigit()/isalnum() is True for most)
    "\uff21\uff3a\uff41\uff5a\uff10\uff19\uff0d"  # fullwidth forms
    "\n\t\r _.:/@\u00a0\u200b"  # whitespace, punctuation, no-break and zero-width space
)
# One flat list: hypothesis simplifies a union of character strategies into code point intervals and then
# rarely reaches the high ones, so the tricky characters are listed explicitly (ASCII twice, to weigh it).
ALPHABET = st.sampled_from([*sorted(ALLOWED), *sorted(ALLOWED), "-", "-", *TRICKY])


def reference_broken_rules(value: str, max_length: int) -> set[str]:
    broken = set()
    if len(value) == 0:
        broken.add("empty")
    if len(value) > max_length:
        broken.add("too-long")
    if len(value) > 0 and value[0] not in LETTERS:
        broken.add("first-character")
    if any(ch not in ALLOWED for ch in value):
        broken.add("characters")
    if any(a == "-" and b == "-" for a, b in itertools.pairwise(value)):
        broken.add("consecutive-hyphens")
    if len(value) > 0 and value[-1] == "-":
        broken.add("trailing-hyphen")
    return broken


def names(boundaries: tuple[int, ...]) -> st.SearchStrategy[str]:
    exact = [st.text(ALPHABET, min_size=n, max_size=n) for n in boundaries]
    near_valid = st.builds(
        lambda head, tail, suffix: head + tail + suffix,
        st.sampled_from(sorted(LETTERS)),
        st.text(st.sampled_from(sorted(ALLOWED)), max_size=max(boundaries)),
        st.sampled_from(["", "-", "\n", "\t", "_", "é", "\uff11"]),
    )
    anything = st.text(st.characters(), max_size=max(boundaries) + 10)
    return st.one_of(*exact, near_valid, st.text(ALPHABET, max_size=max(boundaries) + 10), anything)


def _check_against_reference(kind: NameKind, boundaries: tuple[int, ...], examples: int) -> list[str]:
    seen: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(value=names(boundaries))
    def check(value: str) -> None:
        seen.append(value)
        expected = reference_broken_rules(value, kind.max_length)
        assert {rule.key for rule in kind.broken_rules(value)} == expected, repr(value)
        assert kind.is_valid(value) == (not expected), repr(value)
        # The CRD's pattern (Go RE2: `$` is the end of text) agrees with Python's fullmatch of its body.
        body = NAME_PATTERN.removeprefix("^").removesuffix("$")
        assert (re.fullmatch(body, value, flags=re.ASCII) is not None and len(value) <= kind.max_length) == (
            not expected
        ), repr(value)

    check()
    return seen


def test_snapshot_name_rules_match_the_reference_over_10000_strings() -> None:
    seen = _check_against_reference(SNAPSHOT_NAME, boundaries=(0, 1, 19, 20, 21), examples=10_000)
    assert len(seen) >= 10_000
    lengths = {len(value) for value in seen}
    assert {0, 1, 19, 20, 21} <= lengths
    for tricky in ("\n", "\t", "é", "٣", "\uff21", "\uff0d"):
        assert any(tricky in value for value in seen), f"no generated string contained {tricky!r}"
    assert any(SNAPSHOT_NAME.is_valid(value) for value in seen), "the generator must also produce valid names"


def test_identifier_rules_match_the_reference_at_their_own_boundaries() -> None:
    seen = _check_against_reference(CACHE_CLUSTER_ID, boundaries=(0, 1, 49, 50, 51), examples=3_000)
    assert len(seen) >= 3_000
    assert {0, 1, 49, 50, 51} <= {len(value) for value in seen}


def _browser_broken_rules(kind: NameKind, value: str) -> set[str]:
    """The rules the console's script reports: each violation pattern searched in the value. Python's `$` also
    matches before a final newline where ECMAScript's does not, so the value is one line, as a text box's is."""
    rules = kind.browser_rules()["rules"]
    return {rule["key"] for rule in rules if re.search(rule["violation"], value) is not None}


def test_the_browser_patterns_find_the_same_broken_rules_as_python_over_5000_one_line_strings() -> None:
    seen = 0

    @settings(max_examples=5_000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(value=names((0, 1, 19, 20, 21)).map(lambda value: value.replace("\n", " ").replace("\r", " ")))
    def check(value: str) -> None:
        nonlocal seen
        seen += 1
        assert _browser_broken_rules(SNAPSHOT_NAME, value) == reference_broken_rules(value, 20), repr(value)

    check()
    assert seen >= 5_000


@settings(max_examples=2_000, deadline=None, database=None)
@given(
    source=st.text(st.sampled_from([*sorted(ALLOWED), "_", ".", "é", "0"]), max_size=70),
    when=st.datetimes(timezones=st.just(dt.UTC)),
)
def test_a_suggested_name_always_follows_the_naming_rules_and_ends_with_the_date_and_time(
    source: str, when: dt.datetime
) -> None:
    suggested = suggested_snapshot_name(source, when)
    assert SNAPSHOT_NAME.is_valid(suggested), (source, suggested)
    assert suggested.endswith(when.strftime("-%y%m%d-%H%M"))
