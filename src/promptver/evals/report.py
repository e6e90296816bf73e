"""A run's results as cells (pairing x pass rate), the verdict and its exit code.

Exit codes (documented in docs/evals.md): 130 interrupted; else 3 when the run is incomplete (a
call errored, or a planned call has no result), even if a cell also failed its threshold or
regressed (the verdict then names both); else 1 for a failed threshold or a regression; else 0.
Provider errors never count as regressions: a call that errored is not scored.

A cell is ``pass`` (complete, no errors, pass rate >= ``min_pass_rate``), ``fail`` (complete and
below; or incomplete but below even if every missing call had passed: a definite fail, still
incomplete), or ``incomplete`` (whether it passes cannot be decided). Its pass rate is over the
calls that ran and were scored.

Counts, tokens, cost, latency and error reasons are aggregated in SQL (``EvalReader.cell_totals``
and friends): a report of 240,000 calls holds a few numbers per cell, never the rows. Only a
comparison needs each case's outcome; :meth:`CellReport.load_cases` reads one cell's on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from promptver.storage.eval_reader import EvalReader

EXIT_PASS, EXIT_REGRESSION, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 3, 130
UNKNOWN_ENDPOINT = "unknown (recorded before 0.2)"
MAX_REASONS = 10
REASON_CHARS = 200

CaseMaps = tuple[dict[tuple[str, int], bool], dict[tuple[str, int], dict[str, float]]]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def cost_text(known: float, unknown_calls: int) -> str:
    """``$0.0012``; ``≥ $0.0012 (3 calls of unknown cost)``; ``unknown`` (nothing known at all)."""
    if not unknown_calls:
        return f"${known:.4f}"
    if known <= 0:
        return f"unknown ({plural(unknown_calls, 'call')} of unknown cost)"
    return f"≥ ${known:.4f} ({plural(unknown_calls, 'call')} of unknown cost)"


@dataclass
class CellReport:
    pairing_id: str
    prompt: str
    model: str
    expected: int = 0              # calls the plan makes for this pairing
    total: int = 0                 # results stored (latest attempts)
    passed: int = 0
    errors: int = 0
    cached: int = 0
    prompt_tokens: int | None = 0  # None: some answered call did not report its tokens
    completion_tokens: int | None = 0
    cost_known_usd: float = 0.0    # what this run spent on calls of known cost (cached calls cost nothing)
    cost_unknown: int = 0          # answered, uncached calls whose cost is unknown
    latency_ms_p50: float | None = None
    min_pass_rate: float = 1.0
    endpoint: dict[str, Any] | None = None  # plan["endpoints"][pairing]; None: recorded before 0.2
    response_models: list[str] = field(default_factory=list)
    system_fingerprints: list[str] = field(default_factory=list)
    loader: Callable[[], CaseMaps] | None = field(default=None, repr=False, compare=False)

    @property
    def scored(self) -> int:
        return self.total - self.errors

    @property
    def missing(self) -> int:
        """Planned calls without any result (never made: an interrupted or stopped run)."""
        return max(self.expected - self.total, 0)

    @property
    def unscored(self) -> int:
        """Calls that count for nothing: errored or never made."""
        return self.errors + self.missing

    @property
    def complete(self) -> bool:
        return self.unscored == 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None

    @property
    def status(self) -> str:
        """pass | fail | incomplete (see the module's docstring)."""
        if self.complete:
            rate = self.pass_rate
            return "fail" if rate is not None and rate < self.min_pass_rate else "pass"
        best = (self.passed + self.unscored) / (self.scored + self.unscored)
        return "fail" if best < self.min_pass_rate else "incomplete"

    @property
    def cost_usd(self) -> float | None:
        """What this run spent on the cell; None when some call's cost is unknown."""
        return None if self.cost_unknown else self.cost_known_usd

    def tokens(self) -> dict[str, int] | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return {"prompt": self.prompt_tokens, "completion": self.completion_tokens}

    def interval(self) -> tuple[float, float]:
        from promptver.evals.stats import wilson

        return wilson(self.passed, self.scored)

    def load_cases(self) -> CaseMaps:
        """(case id, repeat) -> passed, and -> {scorer: value}, of the calls that answered; read
        from the registry on each call (only comparisons need them)."""
        return self.loader() if self.loader is not None else ({}, {})

    def endpoint_text(self) -> str:
        if self.endpoint is None:
            return UNKNOWN_ENDPOINT
        from promptver.providers.endpoints import Endpoint

        e = self.endpoint
        return Endpoint(str(e.get("provider")), e.get("url"), str(e.get("source") or "unknown"),
                        dict(e.get("settings") or {}), credential=str(e.get("credential") or "")).describe()

    def missing_text(self) -> str:
        """``28 missing (3 errors, 25 not made)``; "" when complete."""
        if self.complete:
            return ""
        parts = ([plural(self.errors, "error")] if self.errors else []) + \
                ([f"{self.missing} not made"] if self.missing else [])
        return f"{self.unscored} missing ({', '.join(parts)})"

    def to_json(self) -> dict[str, Any]:
        low, high = self.interval()
        return {"pairing": self.pairing_id, "prompt": self.prompt, "model": self.model, "results": self.total,
                "expected": self.expected, "scored": self.scored, "passed": self.passed, "errors": self.errors,
                "missing": self.missing, "status": self.status, "complete": self.complete,
                "cached": self.cached, "pass_rate": self.pass_rate, "interval": [low, high],
                "tokens": self.tokens(),
                "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
                "cost_known_usd": round(self.cost_known_usd, 6), "cost_unknown_calls": self.cost_unknown,
                "latency_ms_p50": self.latency_ms_p50, "endpoint": self.endpoint,
                "response_models": self.response_models, "system_fingerprints": self.system_fingerprints}


@dataclass(frozen=True)
class ErrorReason:
    """One distinct error of a run: how many calls ended in it and one of them (the sample)."""

    kind: str | None
    error: str
    count: int
    pairing_id: str
    case_id: str
    prompt: str = ""
    model: str = ""

    def short(self) -> str:
        text = " ".join(self.error.split())
        return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 3] + "..."

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "error": self.error, "count": self.count,
                "sample": {"pairing": self.pairing_id, "prompt": self.prompt, "model": self.model,
                           "case": self.case_id}}


@dataclass
class RunReport:
    run: dict[str, Any]
    cells: list[CellReport]
    expected_results: int
    failures: list[str] = field(default_factory=list)       # cells below min_pass_rate, in words
    regressions: list[str] = field(default_factory=list)    # cells that regressed against a baseline
    error_reasons: list[ErrorReason] = field(default_factory=list)
    distinct_reasons: int = 0
    stopped: list[dict[str, Any]] = field(default_factory=list)  # "stopped" events' details
    min_pass_rate: float = 1.0

    @property
    def total(self) -> int:
        return sum(c.total for c in self.cells)

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.cells)

    @property
    def missing(self) -> int:
        return max(sum(c.missing for c in self.cells), self.expected_results - self.total, 0)

    @property
    def cached(self) -> int:
        return sum(c.cached for c in self.cells)

    @property
    def cost_known_usd(self) -> float:
        return sum(c.cost_known_usd for c in self.cells)

    @property
    def cost_unknown(self) -> int:
        return sum(c.cost_unknown for c in self.cells)

    def tokens(self) -> dict[str, int] | None:
        each = [c.tokens() for c in self.cells]
        if any(t is None for t in each):
            return None
        return {"prompt": sum(t["prompt"] for t in each if t), "completion": sum(t["completion"] for t in each if t)}

    @property
    def kind(self) -> str:
        return self.run.get("kind") or "suite"

    @property
    def content_hash(self) -> str | None:
        return (self.run["plan"].get("content") or {}).get("hash") or self.run.get("suite_content_hash")

    @property
    def incomplete(self) -> bool:
        return bool(self.errors or self.missing or any(not c.complete for c in self.cells))

    @property
    def failed_cells(self) -> list[CellReport]:
        return [c for c in self.cells if c.status == "fail"]

    def exit_code(self) -> int:
        if self.run.get("state") == "interrupted":
            return EXIT_INTERRUPTED
        if self.incomplete:
            return EXIT_INFRA
        if self.failures or self.regressions:
            return EXIT_REGRESSION
        return EXIT_PASS

    def add_comparison(self, comparison: dict[str, Any]) -> None:
        """Cells that regressed against the baseline fail the run too (exit 1, or 3 if incomplete)."""
        for c in comparison.get("cells", []):
            if c.get("regression"):
                self.regressions.append(f"{c['prompt']} x {c['model']}: regressed against {comparison['baseline']}"
                                        f"{against(c)}: {c['summary']}")

    def verdict(self) -> str:
        """``pass``; ``below min_pass_rate in 1 cell``; ``regression in 2 cells``; ``incomplete (3
        errors, 58 missing) and regression in 1 cell``; ``interrupted (58 calls not made)``."""
        if self.exit_code() == EXIT_INTERRUPTED:
            return f"interrupted ({plural(self.missing, 'call')} not made)"
        parts = []
        if self.incomplete:
            counts = ([plural(self.errors, "error")] if self.errors else []) + \
                     ([f"{self.missing} missing"] if self.missing else [])
            parts.append("incomplete" + (f" ({', '.join(counts)})" if counts else ""))
        failed = len(self.failed_cells)
        if failed:
            parts.append(f"below min_pass_rate in {plural(failed, 'cell')}")
        if self.regressions:
            parts.append(f"regression in {plural(len(self.regressions), 'cell')}")
        return " and ".join(parts) or "pass"

    def resume(self) -> dict[str, Any] | None:
        """How to finish an incomplete or interrupted suite run: the command, and what it redoes."""
        if self.exit_code() not in (EXIT_INFRA, EXIT_INTERRUPTED) or self.kind != "suite":
            return None
        path = self.run["plan"].get("path")
        if not path:
            return None
        return {"command": f"promptver eval {path} --resume {self.run['id']}", "retries": self.errors,
                "not_made": self.missing}

    def to_json(self) -> dict[str, Any]:
        run = self.run
        return {"run": run["id"], "suite": run["suite"], "kind": self.kind, "suite_content_hash": self.content_hash,
                "state": run.get("state"), "created_at": run["created_at"].isoformat().replace("+00:00", "Z"),
                "environment": run["environment"], "results": self.total, "expected_results": self.expected_results,
                "errors": self.errors, "missing": self.missing, "cached": self.cached, "tokens": self.tokens(),
                "cost_usd": None if self.cost_unknown else round(self.cost_known_usd, 6),
                "cost_known_usd": round(self.cost_known_usd, 6), "cost_unknown_calls": self.cost_unknown,
                "min_pass_rate": self.min_pass_rate, "cells": [c.to_json() for c in self.cells],
                "error_reasons": [r.to_json() for r in self.error_reasons],
                "distinct_error_reasons": self.distinct_reasons, "stopped": self.stopped,
                "failures": self.failures + self.regressions, "verdict": self.verdict(), "resume": self.resume(),
                "exit_code": self.exit_code()}


def against(c: dict[str, Any]) -> str:
    """`` (against PROMPT x MODEL, pairing ID)`` when the baseline cell is another pairing."""
    base = c.get("baseline_pairing")
    if not base or base == c.get("pairing"):
        return ""
    return f" (against {c.get('baseline_prompt')} x {c.get('baseline_model')}, pairing {base})"


def build_report(reg: Any, run_id: str) -> RunReport:
    """The run's cells, counted in SQL; a cell below the suite's ``min_pass_rate`` (default 1.0:
    every scored case must pass, as in a test suite) is a failure, an incomplete one only when it
    would fail even if every missing call had passed."""
    from promptver.evals.store import eval_reader

    reader = eval_reader(reg)  # the database's, or the same queries through a server
    run = reader.run(run_id)
    assert run is not None
    plan = run["plan"]
    min_pass_rate = plan.get("min_pass_rate")
    if min_pass_rate is None:
        min_pass_rate = (plan.get("content") or {}).get("min_pass_rate")
    min_pass_rate = 1.0 if min_pass_rate is None else float(min_pass_rate)
    pairings = list(plan.get("fingerprint", {}).get("pairings", []))
    expected_results = int(plan.get("calls") or 0)
    per_cell = expected_results // max(len(pairings), 1)
    endpoints = plan.get("endpoints") or {}
    totals = {t["pairing_id"]: t for t in reader.cell_totals(run["id"])}
    planned = set(pairings)
    pairings += [p for p in totals if p not in planned]
    cells: dict[str, CellReport] = {}
    for pid in pairings:
        pairing = reg.pairing(pid)
        cell = CellReport(pid, pairing.prompt.ref, pairing.model.ref, expected=per_cell if pid in planned else 0,
                          min_pass_rate=min_pass_rate, endpoint=endpoints.get(pid),
                          loader=lambda pid=pid: _case_maps(reader, run["id"], pid))
        t = totals.get(pid)
        if t is not None:
            cell.total, cell.errors, cell.passed = int(t["results"]), int(t["errors"] or 0), int(t["passed"] or 0)
            cell.cached = int(t["cached"] or 0)
            unknown_tokens = int(t["tokens_unknown"] or 0)
            cell.prompt_tokens = None if unknown_tokens else int(t["prompt_tokens"] or 0)
            cell.completion_tokens = None if unknown_tokens else int(t["completion_tokens"] or 0)
            cell.cost_known_usd, cell.cost_unknown = float(t["cost_usd"] or 0.0), int(t["cost_unknown"] or 0)
            latencies = int(t["latencies"] or 0)
            if latencies:
                cell.latency_ms_p50 = reader.latency_at(run["id"], pid, latencies // 2)
        cells[pid] = cell
    for kind, field_ in (("response_models", reader.reported_models), ("system_fingerprints",
                                                                         reader.reported_fingerprints)):
        for row in field_(run["id"]):
            if row["pairing_id"] in cells:
                getattr(cells[row["pairing_id"]], kind).append(row["value"])
    reasons, distinct = reader.error_reasons(run["id"], MAX_REASONS)
    report = RunReport(run, list(cells.values()), expected_results, distinct_reasons=distinct,
                       min_pass_rate=min_pass_rate,
                       stopped=[e["details"] for e in reader.events(run["id"]) if e["state"] == "stopped"])
    for r in reasons:
        pid, _, case_id = str(r["sample"]).partition(" ")
        cell = cells.get(pid)
        report.error_reasons.append(ErrorReason(r["kind"], r["error"], int(r["n"]), pid, case_id,
                                                cell.prompt if cell else "", cell.model if cell else ""))
    for cell in report.failed_cells:
        rate = "no scores" if cell.pass_rate is None else f"pass rate {cell.pass_rate:.0%}"
        if cell.complete:
            report.failures.append(f"{cell.prompt} x {cell.model}: {rate} is below min_pass_rate "
                                   f"{min_pass_rate:.0%}")
        else:
            report.failures.append(f"{cell.prompt} x {cell.model}: {rate} ({cell.passed}/{cell.scored} ran) is below "
                                   f"min_pass_rate {min_pass_rate:.0%} even if the {cell.unscored} missing had passed")
    return report


def _case_maps(reader: EvalReader, run_id: str, pairing_id: str) -> CaseMaps:
    passed = {(r["case_id"], int(r["repeat"])): bool(r["ok"]) for r in reader.cell_outcomes(run_id, pairing_id)
              if not r["errored"]}
    scores: dict[tuple[str, int], dict[str, float]] = {}
    for s in reader.cell_score_values(run_id, pairing_id):
        scores.setdefault((s["case_id"], int(s["repeat"])), {})[s["scorer"]] = float(s["value"])
    return passed, scores
