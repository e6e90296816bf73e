"""The one table printer of the benchmarks: plain aligned columns, the first row a header with a
rule under it, the first column left-aligned and the figures right-aligned (safe for pipes)."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows``; the first one is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
