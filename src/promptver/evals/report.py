"""A run's results as cells (pairing x pass rate), the verdict and its exit code.

Exit codes (documented in docs/evals.md): 0 pass; 1 a regression or a failed threshold; 3
infrastructure errors (provider errors, timeouts) or an incomplete run; 130 interrupted. Provider
errors never count as regressions: a call that errored is not scored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from promptver.storage.reader import EvalReader

EXIT_PASS, EXIT_REGRESSION, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass
class CellReport:
    pairing_id: str
    prompt: str
    model: str
    total: int = 0
    passed: int = 0
    errors: int = 0
    cached: int = 0
    cost_usd: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    case_passed: dict[tuple[str, int], bool] = field(default_factory=dict)
    case_scores: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return self.total - self.errors

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None

    def interval(self) -> tuple[float, float]:
        from promptver.evals.stats import wilson

        return wilson(self.passed, self.scored)

    def to_json(self) -> dict[str, Any]:
        low, high = self.interval()
        latencies = sorted(self.latency_ms)
        return {"pairing": self.pairing_id, "prompt": self.prompt, "model": self.model, "results": self.total,
                "passed": self.passed, "errors": self.errors, "cached": self.cached, "pass_rate": self.pass_rate,
                "interval": [low, high], "cost_usd": round(self.cost_usd, 6),
                "latency_ms_p50": latencies[len(latencies) // 2] if latencies else None}


@dataclass
class RunReport:
    run: dict[str, Any]
    cells: list[CellReport]
    expected_results: int
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.cells)

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.cells)

    def exit_code(self) -> int:
        if self.run.get("state") == "interrupted":
            return EXIT_INTERRUPTED
        if self.failures:
            return EXIT_REGRESSION
        if self.errors or self.total < self.expected_results:
            return EXIT_INFRA
        return EXIT_PASS

    def to_json(self) -> dict[str, Any]:
        run = self.run
        return {"run": run["id"], "suite": run["suite"], "state": run.get("state"),
                "created_at": run["created_at"].isoformat().replace("+00:00", "Z"),
                "environment": run["environment"], "results": self.total, "expected_results": self.expected_results,
                "errors": self.errors, "cells": [c.to_json() for c in self.cells], "failures": self.failures,
                "exit_code": self.exit_code()}


def build_report(reg: Any, run_id: str) -> RunReport:
    """The run's cells; a cell below the suite's ``min_pass_rate`` (default 1.0: every scored case
    must pass, as in a test suite) is a failure."""
    reader = EvalReader(reg.reader)
    run = reader.run(run_id)
    assert run is not None
    min_pass_rate = run["plan"].get("min_pass_rate")
    min_pass_rate = 1.0 if min_pass_rate is None else float(min_pass_rate)
    passed_by_result: dict[int, bool] = defaultdict(lambda: True)
    values_by_result: dict[int, dict[str, float]] = defaultdict(dict)
    for s in reader.scores(run["id"]):
        passed_by_result[s["result_id"]] &= bool(s["passed"])
        values_by_result[s["result_id"]][s["scorer"]] = float(s["value"])
    cells: dict[str, CellReport] = {}
    for pid in run["plan"]["fingerprint"]["pairings"]:
        pairing = reg.pairing(pid)
        cells[pid] = CellReport(pid, pairing.prompt.ref, pairing.model.ref)
    for r in reader.results(run["id"]):
        cell = cells[r["pairing_id"]]
        cell.total += 1
        cell.cached += bool(r["cached"])
        if not r["cached"]:  # money actually spent by this run
            cell.cost_usd += r["cost_usd"] or 0.0
        if r["latency_ms"] is not None:
            cell.latency_ms.append(r["latency_ms"])
        if r["error"]:
            cell.errors += 1
            continue
        ok = passed_by_result[r["id"]]
        cell.passed += ok
        cell.case_passed[(r["case_id"], r["repeat"])] = ok
        cell.case_scores[(r["case_id"], r["repeat"])] = values_by_result[r["id"]]
    report = RunReport(run, list(cells.values()), int(run["plan"].get("calls") or 0))
    for cell in report.cells:
        if cell.pass_rate is not None and cell.pass_rate < min_pass_rate:
            report.failures.append(f"{cell.prompt} x {cell.model}: pass rate {cell.pass_rate:.0%} is below "
                                   f"min_pass_rate {min_pass_rate:.0%}")
    return report
