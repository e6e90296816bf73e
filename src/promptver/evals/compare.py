"""Comparing two runs cell by cell: which cases flipped, and is the change significant?

Cells are matched by pairing. A pairing of the new run that the baseline does not have is compared
with the baseline's *released* cell when the baseline was chosen by label (``--baseline production``:
"how does each candidate do against what is live"), else with the baseline's only cell on the same
model version. Cases are paired by (case id, repeat); calls
that errored in either run are left out (infrastructure is never a regression). A cell regresses
when its pass rate drops significantly (McNemar, alpha 0.05), or, with ``strict``, when any case
flips from pass to fail. Each scorer's values are compared too, with a paired bootstrap
(``scores``: mean before and after, p-value, significance). A cell with errors or calls never made
in either run is ``incomplete``: whatever its cases say, it is not called a pass. Each cell names
its baseline cell (``baseline_prompt``, ``baseline_model``, ``baseline_pairing``).
"""

from __future__ import annotations

from typing import Any

from promptver.errors import NotFound
from promptver.evals.report import RunReport, build_report
from promptver.evals.stats import compare_pass, compare_scores


def resolve_baseline(reg: Any, suite: str, baseline: str, exclude: str | None = None) -> tuple[str, str | None]:
    """A run id, given a run id (prefix) or a label: the latest completed whole-suite run (of this
    suite if there is one, else of any) that evaluated the pairing the label points at now; a bisect
    or attribution replay of chosen cases is never a label's baseline. Returns (run id, that pairing
    or None)."""
    from promptver.evals.store import eval_reader

    reader = eval_reader(reg)  # the database's, or the same queries through a server
    found = reader.run(baseline)
    if found is not None:
        return found["id"], None
    # whole-suite runs of this suite first, then of any suite: the latest that evaluated the released pairing
    ours = [r for r in reader.runs(suite, limit=200, kind="suite") if r["state"] == "completed" and r["id"] != exclude]
    others = [r for r in reader.runs(None, limit=200, kind="suite")
              if r["state"] == "completed" and r["id"] != exclude and r["suite"] != suite]
    runs = ours + others
    prompts = {reg.pairing(pid).prompt.name for r in runs for pid in r["plan"]["fingerprint"]["pairings"]}
    for prompt in sorted(prompts):
        event = reg.current_labels(prompt).get(baseline)  # (a registry's, or a server's)
        if event is None or event.pairing_id is None:
            continue
        for run in runs:
            if event.pairing_id in run["plan"]["fingerprint"]["pairings"]:
                return run["id"], event.pairing_id
    raise NotFound(f"no baseline {baseline!r}: not a run id, nor a label with a completed whole-suite run of "
                   f"suite {suite!r} (replays of chosen cases by bisect or attribution do not count)")


def compare(reg: Any, baseline_id: str, run_id: str, *, released: str | None = None,
            strict: bool = False) -> dict[str, Any]:
    before, after = build_report(reg, baseline_id), build_report(reg, run_id)
    return compare_reports(before, after, released=released, strict=strict)


def compare_reports(before: RunReport, after: RunReport, *, released: str | None = None,
                    strict: bool = False) -> dict[str, Any]:
    """Cell by cell; each cell's case outcomes are read only while it is compared. A cell with
    errors or calls not made (in either run) is marked ``incomplete``: never a pass."""
    base_cells = {c.pairing_id: c for c in before.cells}
    cells = []
    for cell in after.cells:
        base = _counterpart(cell, base_cells, released)
        if base is None:
            continue
        (base_passed, base_scores), (now_passed, now_scores) = base.load_cases(), cell.load_cases()
        keys = sorted(set(base_passed) & set(now_passed))
        pairs = [(base_passed[k], now_passed[k]) for k in keys]
        repeats = max((k[1] for k in keys), default=0) > 0
        regressed = [_case(k, repeats) for k in keys if base_passed[k] and not now_passed[k]]
        fixed = [_case(k, repeats) for k in keys if not base_passed[k] and now_passed[k]]
        result = compare_pass(pairs) if pairs else None
        worse = bool(result and result.direction == "worse") or (strict and bool(regressed))
        scores = {}
        for name in sorted({n for k in keys for n in base_scores.get(k, {})}):
            both = [(base_scores[k][name], now_scores[k][name]) for k in keys
                    if name in base_scores.get(k, {}) and name in now_scores.get(k, {})]
            if both:
                diff = compare_scores(both)  # paired bootstrap on the scores themselves
                scores[name] = {"before": diff.before_rate, "after": diff.after_rate, "p_value": diff.p_value,
                                "significant": diff.significant, "direction": diff.direction,
                                "summary": diff.summary()}
        del base_passed, base_scores, now_passed, now_scores
        incomplete = [f"{which}: {c.missing_text()}" for which, c in (("this run", cell), ("baseline", base))
                      if not c.complete]
        summary = result.summary() if result else "no cases in common"
        if incomplete:
            summary += f"; incomplete ({'; '.join(incomplete)})"
        cells.append({
            "pairing": cell.pairing_id, "prompt": cell.prompt, "model": cell.model,
            "baseline_pairing": base.pairing_id, "baseline_prompt": base.prompt, "baseline_model": base.model,
            "before": base.pass_rate, "after": cell.pass_rate, "summary": summary,
            "p_value": result.p_value if result else None, "significant": bool(result and result.significant),
            "direction": result.direction if result else "same", "regressed": regressed, "fixed": fixed,
            "scores": scores, "regression": worse, "incomplete": bool(incomplete),
            "before_errors": base.errors, "before_missing": base.missing,
            "after_errors": cell.errors, "after_missing": cell.missing,
        })
    return {"baseline": before.run["id"], "run": after.run["id"], "strict": strict, "cells": cells,
            "regression": any(c["regression"] for c in cells), "incomplete": any(c["incomplete"] for c in cells)}


def _counterpart(cell: Any, base_cells: dict[str, Any], released: str | None) -> Any:
    """The same pairing; else the released one (a label baseline); else the only baseline cell with
    the same model version (a new prompt version on that model); else None."""
    if cell.pairing_id in base_cells:
        return base_cells[cell.pairing_id]
    if released and released in base_cells:
        return base_cells[released]
    same_model = [c for c in base_cells.values() if c.model == cell.model]
    return same_model[0] if len(same_model) == 1 else None


def _case(key: tuple[str, int], repeats: bool) -> str:
    """A case's name: its id, with ``#repeat`` when the suite repeats cases (as in JUnit reports)."""
    case_id, repeat = key
    return f"{case_id}#{repeat}" if repeats else case_id
