"""A run's results for CI: JUnit XML (test reporters) and a compact Markdown report (a PR comment).

Pure where it can be: ``junit_xml`` and ``markdown`` take a :class:`RunReport` (and rows, or a
comparison) and return text; only :func:`case_rows` reads the registry. The CLI writes the files.
A result that errored is infrastructure (``<error>``), never a failure; a result with no score
that failed passes, the rule ``report.build_report`` uses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from promptver.errors import NotFound
from promptver.evals.report import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_PASS, EXIT_REGRESSION, CellReport, RunReport
from promptver.storage.reader import DatasetReader, EvalReader

EXCERPT_CHARS = 500
MAX_FLIPS = 20
# characters XML 1.0 cannot hold at all, not even escaped (ElementTree writes them as they are)
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class CaseRow:
    """One result of a run (a pairing, a case, a repeat). ``passed`` is None when the call errored;
    ``skipped`` marks a call an incomplete run never made (no result stored)."""

    pairing_id: str
    case_id: str
    repeat: int
    passed: bool | None
    error: str | None = None
    error_kind: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (scorer name, detail) of failing scorers
    output: str | None = None  # an excerpt (EXCERPT_CHARS)
    latency_ms: float | None = None
    cost_usd: float | None = None
    cached: bool = False
    skipped: bool = False


def case_rows(reg: Any, run_id: str) -> list[CaseRow]:
    """The rows of a stored run in dataset order (then repeat), pairing by pairing as the plan lists them,
    plus a ``skipped`` row for every planned call without a result (an interrupted run)."""
    reader = EvalReader(reg.reader)
    run = reader.run(run_id)
    if run is None:
        raise NotFound(f"no eval run {run_id!r} (see `promptver eval list`)")
    fingerprint = run["plan"].get("fingerprint", {})
    case_ids = [c["id"] for c in DatasetReader(reg.reader).by_id(run["dataset_version_id"])["cases"]]
    order = {cid: i for i, cid in enumerate(case_ids)}
    pairings = list(fingerprint.get("pairings", []))
    failing: dict[int, list[tuple[str, str]]] = {}
    for s in reader.scores(run["id"]):
        if not s["passed"]:
            failing.setdefault(s["result_id"], []).append((s["scorer"], s["detail"] or ""))
    rows: dict[tuple[str, str, int], CaseRow] = {}
    for r in reader.results(run["id"]):
        errored = bool(r["error"])
        fails = [] if errored else failing.get(r["id"], [])
        output = None if r["output"] is None else _excerpt(r["output"])
        rows[(r["pairing_id"], r["case_id"], r["repeat"])] = CaseRow(
            r["pairing_id"], r["case_id"], r["repeat"], None if errored else not fails, r["error"] or None,
            r["error_kind"], fails, output, r["latency_ms"], r["cost_usd"], bool(r["cached"]))
        if r["pairing_id"] not in pairings:
            pairings.append(r["pairing_id"])
    for pid in fingerprint.get("pairings", []):
        for cid in case_ids:
            for repeat in range(int(fingerprint.get("repeats") or 1)):
                rows.setdefault((pid, cid, repeat), CaseRow(pid, cid, repeat, None, skipped=True))
    rank = {pid: i for i, pid in enumerate(pairings)}
    return sorted(rows.values(), key=lambda c: (rank[c.pairing_id], order.get(c.case_id, len(order)), c.case_id,
                                                c.repeat))


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


# -- JUnit XML ------------------------------------------------------------------------------------
def _x(text: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def junit_xml(report: RunReport, cases: list[CaseRow]) -> str:
    """JUnit XML: one <testsuite> per cell ("PROMPT x MODEL"), one <testcase> per (case, repeat)."""
    run = report.run
    repeats = int(run["plan"].get("fingerprint", {}).get("repeats") or 1)
    repeats = max([repeats, *(c.repeat + 1 for c in cases)])
    root = ET.Element("testsuites", name=_x(run["suite"]))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for cell in report.cells:
        name = f"{cell.prompt} x {cell.model}"
        mine = [c for c in cases if c.pairing_id == cell.pairing_id]
        counts = {"tests": len(mine), "failures": sum(c.passed is False for c in mine),
                  "errors": sum(c.passed is None and not c.skipped for c in mine),
                  "skipped": sum(c.skipped for c in mine)}
        seconds = sum((c.latency_ms or 0.0) for c in mine) / 1000
        suite = ET.SubElement(root, "testsuite", name=_x(name), time=f"{seconds:.3f}",
                              timestamp=run["created_at"].strftime("%Y-%m-%dT%H:%M:%S"),
                              **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(suite, "properties")
        for key, value in (("run", run["id"]), ("pairing", cell.pairing_id), ("pass_rate", _rate(cell.pass_rate))):
            ET.SubElement(props, "property", name=key, value=_x(value))
        for c in mine:
            test = ET.SubElement(suite, "testcase", classname=_x(name),
                                 name=_x(c.case_id + (f"#{c.repeat}" if repeats > 1 else "")),
                                 time=f"{(c.latency_ms or 0.0) / 1000:.3f}")
            if c.skipped:
                ET.SubElement(test, "skipped", message="not run: the run is incomplete")
            elif c.passed is None:
                first = (c.error or "").strip().splitlines()[:1] or ["error"]
                err = ET.SubElement(test, "error", message=_x(first[0]), type=_x(c.error_kind or "error"))
                err.text = _x(c.error or "")
            elif not c.passed:
                fail = ET.SubElement(test, "failure", message=_x(", ".join(n for n, _ in c.failures)), type="score")
                fail.text = _x("\n".join(f"{n}: {d}" for n, d in c.failures))
            if c.output is not None and not c.passed:
                ET.SubElement(test, "system-out").text = _x(c.output)
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- Markdown -------------------------------------------------------------------------------------
def verdict(report: RunReport, comparison: dict[str, Any] | None = None) -> str:
    """pass | regression | infrastructure | interrupted: the exit code's; a comparison cell marked
    ``regression`` (or significantly worse) makes a passing run a regression too."""
    code = report.exit_code()
    worse = any(c.get("regression") or (c.get("significant") and c.get("direction") == "worse")
                for c in (comparison or {}).get("cells", []))
    if code == EXIT_PASS and worse:
        code = EXIT_REGRESSION
    return {EXIT_PASS: "pass", EXIT_REGRESSION: "regression", EXIT_INFRA: "infrastructure",
            EXIT_INTERRUPTED: "interrupted"}.get(code, f"exit {code}")


def pct(rate: float | None) -> str:
    """83%; never "100%" unless all passed, nor "0%" unless none did."""
    if rate is None:
        return "-"
    shown = round(rate * 100)
    if shown == 100 and rate < 1:
        shown = 99
    if shown == 0 and rate > 0:
        shown = 1
    return f"{shown}%"


def _cell_text(cell: CellReport | None) -> str:
    if cell is None:
        return "-"
    if cell.pass_rate is None:
        return f"no scores ({_n(cell.errors, 'error')})"
    return f"{pct(cell.pass_rate)} ({cell.passed}/{cell.scored})" + (f", {_n(cell.errors, 'error')}" if cell.errors else "")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def md_cell(text: Any) -> str:
    """Text safe in a table cell or a line: pipes, backslashes and newlines escaped."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(text: str) -> str:
    """An inline code span that holds any text (a case id may contain backticks)."""
    text = text.replace("\r", " ").replace("\n", " ")
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def markdown(report: RunReport, comparison: dict[str, Any] | None = None) -> str:
    run = report.run
    totals = (f"Run `{run['id']}` ({run.get('state') or 'unknown'}): {report.total}/{report.expected_results} "
              f"results, {_n(report.errors, 'error')}, {sum(c.cached for c in report.cells)} cached, "
              f"${sum(c.cost_usd for c in report.cells):.4f}")
    lines = [f"## promptver eval {md_cell(run['suite'])}: {verdict(report, comparison)}", "", totals, ""]
    prompts = list(dict.fromkeys(c.prompt for c in report.cells))
    models = list(dict.fromkeys(c.model for c in report.cells))
    by = {(c.prompt, c.model): c for c in report.cells}
    lines.append("| prompt \\\\ model | " + " | ".join(md_cell(m) for m in models) + " |")
    lines.append("|---|" + "---|" * len(models))
    for p in prompts:
        lines.append(f"| {md_cell(p)} | " + " | ".join(md_cell(_cell_text(by.get((p, m)))) for m in models) + " |")
    if report.failures:
        lines += ["", *(f"- **FAIL** {md_cell(f)}" for f in report.failures)]
    if comparison:
        lines += ["", f"### Compared with run `{comparison.get('baseline')}`", "",
                  "| prompt | model | baseline | this run | change |", "|---|---|---|---|---|"]
        for c in comparison.get("cells", []):
            base = c.get("baseline_pairing")
            other = f" (pairing `{md_cell(base)}`)" if base and base != c.get("pairing") else ""
            mark = "**regression**: " if c.get("regression") else ""
            lines.append(f"| {md_cell(c.get('prompt'))} | {md_cell(c.get('model'))} | {pct(c.get('before'))}{other} | "
                         f"{pct(c.get('after'))} | {mark}{md_cell(c.get('summary', ''))} |")
        for c in comparison.get("cells", []):
            flips = [(cid, "pass → fail") for cid in c.get("regressed", [])] + \
                    [(cid, "fail → pass") for cid in c.get("fixed", [])]
            if not flips:
                continue
            head = (f"**{md_cell(c.get('prompt'))} x {md_cell(c.get('model'))}**: {len(c.get('regressed', []))} regressed, "
                    f"{len(c.get('fixed', []))} fixed")
            lines += ["", head, ""]
            lines += [f"- {_code(str(cid))}: {what}" for cid, what in flips[:MAX_FLIPS]]
            if len(flips) > MAX_FLIPS:
                lines.append(f"- and {len(flips) - MAX_FLIPS} more")
    return "\n".join(lines) + "\n"
