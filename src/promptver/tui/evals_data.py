"""What the evals screen shows, read from the registry (in thread workers): the runs, a run's
matrix with its regressed cells, the cases of one cell, one result in full.

A cell is **regressed** when its pass rate is below the suite's ``min_pass_rate`` (the rule
``evals.report.build_report`` fails a run by; default 1.0), or below the pass rate the same
pairing had in the previous completed run of the same suite that evaluated it. Cells whose calls
all errored have no pass rate and are never regressed (infrastructure is not a regression). A cell
with errors or calls not made is **incomplete** (shown so, never as a pass); it is below
``min_pass_rate`` only when it would be even if every missing call had passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptver.errors import NotFound
from promptver.evals.outputs import CaseRow, iter_case_rows, pct
from promptver.evals.report import CellReport, RunReport, build_report, cost_text
from promptver.storage.eval_reader import EvalReader


@dataclass
class MatrixCell:
    cell: CellReport
    previous: float | None = None        # the pairing's pass rate in the previous run
    previous_run: str | None = None
    below_min: bool = False

    @property
    def regressed(self) -> bool:
        rate = self.cell.pass_rate
        if rate is None:
            return False
        return self.below_min or (self.previous is not None and rate < self.previous)

    @property
    def incomplete(self) -> bool:
        return not self.cell.complete

    def text(self) -> str:
        cell = self.cell
        missing = f", {cell.unscored} missing" if cell.unscored else ""
        if cell.pass_rate is None:
            return f"no scores{missing}" if cell.total or cell.expected else "-"
        shown = f"{pct(cell.pass_rate)} {cell.passed}/{cell.scored}" + (f" ran{missing}" if missing else "")
        if self.previous is not None and cell.pass_rate != self.previous:
            shown += f" {'↓' if cell.pass_rate < self.previous else '↑'}{pct(self.previous)}"
        return shown

    def why(self) -> str:
        """Why the cell is highlighted, in words ("" when it is not)."""
        reasons = []
        if self.incomplete:
            reasons.append(f"incomplete: {self.cell.missing_text()}")
        if self.below_min:
            reasons.append("below the suite's min_pass_rate" + (" even if every missing call passed"
                                                                 if self.incomplete else ""))
        if self.previous is not None and self.cell.pass_rate is not None and self.cell.pass_rate < self.previous:
            reasons.append(f"was {pct(self.previous)} in run {self.previous_run}")
        return "; ".join(reasons)

    def facts(self) -> str:
        """``tokens 120 in / 45 out, cost $0.0012, p50 12 ms``: the cell's usage."""
        tokens = self.cell.tokens()
        shown = ["tokens unknown" if tokens is None else f"tokens {tokens['prompt']} in / {tokens['completion']} out",
                 "cost " + cost_text(self.cell.cost_known_usd, self.cell.cost_unknown)]
        if self.cell.latency_ms_p50 is not None:
            shown.append(f"p50 {self.cell.latency_ms_p50:.0f} ms")
        return ", ".join(shown)


@dataclass
class Matrix:
    report: RunReport
    prompts: list[str]
    models: list[str]
    cells: dict[tuple[str, str], MatrixCell] = field(default_factory=dict)

    @property
    def run(self) -> dict[str, Any]:
        return self.report.run

    @property
    def min_pass_rate(self) -> float:
        value = self.run["plan"].get("min_pass_rate")
        return 1.0 if value is None else float(value)


def fetch_runs(registry: Any, limit: int = 100) -> list[dict[str, Any]]:
    """Eval runs, newest first."""
    return EvalReader(registry.reader).runs(None, limit=limit)


def fetch_matrix(registry: Any, run_id: str) -> Matrix:
    """The run's cells (prompt versions x model versions), each with the pass rate its pairing had
    in the previous completed run of the same suite that evaluated it."""
    reader = EvalReader(registry.reader)
    run = reader.run(run_id)
    if run is None:
        raise NotFound(f"no eval run {run_id!r}")
    report = build_report(registry, run["id"])
    matrix = Matrix(report, list(dict.fromkeys(c.prompt for c in report.cells)),
                    list(dict.fromkeys(c.model for c in report.cells)))
    older = [r for r in reader.runs(run["suite"], limit=200)
             if r["created_at"] < run["created_at"] and r["id"] != run["id"] and r["state"] == "completed"]
    reports: dict[str, RunReport] = {}
    for cell in report.cells:
        found = MatrixCell(cell, below_min=cell.status == "fail")
        for before in older:  # newest first: the previous run that evaluated this pairing
            if cell.pairing_id in before["plan"].get("fingerprint", {}).get("pairings", []):
                if before["id"] not in reports:
                    reports[before["id"]] = build_report(registry, before["id"])
                earlier = next(c for c in reports[before["id"]].cells if c.pairing_id == cell.pairing_id)
                if earlier.pass_rate is not None:
                    found.previous, found.previous_run = earlier.pass_rate, before["id"]
                    break
        matrix.cells[(cell.prompt, cell.model)] = found
    return matrix


def fetch_cases(registry: Any, run_id: str, pairing_id: str) -> list[CaseRow]:
    """The results of one cell of a run, in dataset order (then repeat)."""
    return list(iter_case_rows(registry, run_id, pairing_id))


def fetch_result(registry: Any, run_id: str, row: CaseRow) -> dict[str, Any]:
    """One result in full: the whole output (``case_rows`` keeps an excerpt), the error, each score."""
    result = EvalReader(registry.reader).result_of(run_id, row.pairing_id, row.case_id, row.repeat)
    if result is None:
        return {"result": None, "scores": []}
    return {"result": result, "scores": result.pop("scores")}
