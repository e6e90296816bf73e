"""A suite's history: per pairing, its pass rate, latency and cost run after run, and a sparkline.

``history`` reads the registry; ``sparkline`` and ``render_history`` are pure. A run's pass rate for a
pairing follows ``report.build_report``: errored calls are not scored, and a call passes when every
scorer passed it, counted in SQL (``EvalReader.cell_totals``, as the report counts: one rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promptver.evals.outputs import pct

BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class HistoryPoint:
    """One run of one pairing. ``pass_rate`` None: nothing scored (all errored, or no result yet).
    ``mean_latency_ms`` over the calls that answered (cached ones keep their original latency);
    ``cost_usd`` what the run spent on this pairing (cached calls cost nothing)."""

    run_id: str
    created_at: datetime
    state: str | None
    results: int
    passed: int
    errors: int
    pass_rate: float | None
    mean_latency_ms: float | None
    cost_usd: float | None  # None: a call of unknown cost


@dataclass
class HistoryRow:
    """A pairing's runs in the suite, oldest to newest."""

    pairing_id: str
    prompt: str
    model: str
    points: list[HistoryPoint] = field(default_factory=list)

    @property
    def latest(self) -> HistoryPoint | None:
        return self.points[-1] if self.points else None

    def to_json(self) -> dict[str, Any]:
        return {"pairing": self.pairing_id, "prompt": self.prompt, "model": self.model,
                "runs": [{"run": p.run_id, "created_at": p.created_at.isoformat().replace("+00:00", "Z"),
                          "state": p.state, "results": p.results, "passed": p.passed, "errors": p.errors,
                          "pass_rate": p.pass_rate, "mean_latency_ms": p.mean_latency_ms,
                          "cost_usd": None if p.cost_usd is None else round(p.cost_usd, 6)} for p in self.points]}


def history(reg: Any, suite: str, limit: int = 30) -> list[HistoryRow]:
    """The ``limit`` newest whole-suite runs of ``suite`` (its name, as `promptver eval list` shows it;
    never a bisect or attribution replay of chosen cases), per pairing, oldest to newest; pairings in
    the order they first appeared. A pairing's points are the runs it was in."""
    from promptver.evals.store import eval_reader

    reader = eval_reader(reg)  # the database's, or the same queries through a server
    runs = reader.runs(suite, limit=limit, kind="suite")
    runs.sort(key=lambda r: (r["created_at"], r["id"]))
    rows: dict[str, HistoryRow] = {}
    for run in runs:
        totals = {t["pairing_id"]: t for t in reader.cell_totals(run["id"])}  # (counted in SQL: no row in memory)
        pairings = list(run["plan"].get("fingerprint", {}).get("pairings", []))
        pairings += [pid for pid in totals if pid not in pairings]
        for pid in pairings:
            if pid not in rows:
                pairing = reg.pairing(pid)
                rows[pid] = HistoryRow(pid, pairing.prompt.ref, pairing.model.ref)
            rows[pid].points.append(_point(run, totals.get(pid)))
    return list(rows.values())


def _point(run: dict[str, Any], totals: dict[str, Any] | None) -> HistoryPoint:
    """One run of one pairing from its SQL totals (None: no result yet). Its cost is None when an
    answered, uncached call's cost is unknown."""
    t = totals or {}
    results, errors, passed = int(t.get("results") or 0), int(t.get("errors") or 0), int(t.get("passed") or 0)
    scored = results - errors
    answered = int(t.get("answered_latencies") or 0)
    cost = None if t.get("cost_unknown") else float(t.get("cost_usd") or 0.0)
    return HistoryPoint(run["id"], run["created_at"], run.get("state"), results, passed, errors,
                        passed / scored if scored else None,
                        float(t["answered_latency_sum"]) / answered if answered else None, cost)


def sparkline(values: list[float | None], lo: float | None = 0.0, hi: float | None = 1.0) -> str:
    """One bar per value, "▁" at ``lo`` to "█" at ``hi`` (pass rates: 0..1; out-of-range values are
    clamped); None (or NaN) is a space. ``lo``/``hi`` None: the values' own minimum/maximum; when they
    are equal every bar is the middle one."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low = min(finite, default=0.0) if lo is None else lo
    high = max(finite, default=1.0) if hi is None else hi
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif high <= low:
            out.append(BARS[len(BARS) // 2 - 1])
        else:
            share = min(1.0, max(0.0, (v - low) / (high - low)))
            out.append(BARS[round(share * (len(BARS) - 1))])
    return "".join(out)


def render_history(rows: list[HistoryRow]) -> list[str]:
    """``support-reply/1 x support-llm/1  ▅▆▇█  83% (latest)  runs: 4``, one line per pairing, aligned."""
    if not rows:
        return []
    names = [f"{r.prompt} x {r.model}" for r in rows]
    lines_ = [sparkline([p.pass_rate for p in r.points]) for r in rows]
    name_width = max(len(n) for n in names)
    line_width = max(len(s) for s in lines_)
    out = []
    for row, name, spark in zip(rows, names, lines_, strict=True):
        latest = row.latest
        rate = "no scores" if latest is None or latest.pass_rate is None else pct(latest.pass_rate)
        # a latest run with errors is incomplete: its rate is over what ran, and says so
        errors = f", incomplete: {latest.errors} error{'' if latest.errors == 1 else 's'}" \
            if latest is not None and latest.errors else ""
        out.append(f"{name.ljust(name_width)}  {spark.ljust(line_width)}  {rate} (latest{errors})  "
                   f"runs: {len(row.points)}")
    return out
