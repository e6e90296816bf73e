"""Lay out a version history as a graph, newest first, like ``git log --graph``.

Each version names its parent; branches appear when a version derives from an older one
(``--from support-reply/3``). ``graph(versions)`` returns one prefix string per version.
"""

from __future__ import annotations

from collections.abc import Sequence


def graph(nodes: Sequence[tuple[int, int | None]]) -> list[str]:
    """``nodes``: (version, parent) pairs, newest first. Returns the graph prefix of each row."""
    lanes: list[int | None] = []   # each lane waits for the version it will show next
    out: list[str] = []
    for version, parent in nodes:
        if version in lanes:
            col = lanes.index(version)
        else:
            col = lanes.index(None) if None in lanes else len(lanes)
            if col == len(lanes):
                lanes.append(None)
        # other lanes waiting for this same version merge into it
        merged = [i for i, v in enumerate(lanes) if v == version and i != col]
        cells = []
        for i, waiting in enumerate(lanes):
            if i == col:
                cells.append("*")
            elif i in merged:
                cells.append("/")
            else:
                cells.append("|" if waiting is not None else " ")
        out.append(" ".join(cells).rstrip())
        for i in merged:
            lanes[i] = None
        lanes[col] = parent
        while lanes and lanes[-1] is None:
            lanes.pop()
    return out
