"""The README's compatibility table is what `make matrix` ran: rendered from docs/compatibility.json, on every
release of devstack.versions, every operation and every pair of versions."""

from __future__ import annotations

from devstack import compat
from devstack.versions import IDS


def test_the_readme_table_is_rendered_from_the_matrix_results() -> None:
    readme = compat.README.read_text()
    assert compat.readme_with_table(readme, compat.render(compat.read())) == readme, (
        "README.md's compatibility table differs from docs/compatibility.json: run `make compat` (or `make matrix`)"
    )


def test_the_results_cover_every_release_operation_and_pair() -> None:
    results = compat.read()
    recorded = results["releases"]
    missing = [
        f"{release} {operation}"
        for release in IDS
        for operation in compat.OPERATIONS
        if operation not in recorded.get(release, {}).get("operations", {})
    ]
    assert missing == [], "not run by the last `make matrix`: " + ", ".join(missing)
    pairs = [(s, t) for s in IDS for t in IDS if t not in results["restores"].get(s, {})]
    assert pairs == [], f"restores not run by the last `make matrix`: {pairs}"
    assert all(recorded[release].get("rdbVersion") for release in IDS)


def test_a_failed_cell_shows_as_failed() -> None:
    data = compat.empty()
    compat.record_operation(data, "redis-6.0", "verify", compat.FAILED)
    compat.record_operation(data, "redis-6.0", "dump node", compat.PASSED, rdbVersion=9)
    compat.record_restore(data, "redis-8.0", "redis-7.0", compat.REFUSED)
    table = compat.render(data)
    row = next(line for line in table.splitlines() if line.startswith("| Redis 6.0.16 |"))
    assert "❌ failed" in row
    assert "| 9 |" in row
    assert "not run" in row
    restore_row = next(line for line in table.splitlines() if line.startswith("| Redis 8.0.2 |") and "⛔" in line)
    assert restore_row.count("⛔") == 1
