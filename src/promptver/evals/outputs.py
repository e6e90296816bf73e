"""A run's results for CI: JUnit XML (test reporters) and a compact Markdown report (a PR comment).

Pure where it can be: ``junit_xml`` and ``markdown`` take a :class:`RunReport` (and rows, or a
comparison) and return text; only :func:`case_rows` / :func:`iter_case_rows` read the registry (one
pairing at a time). The CLI writes the files.
A result that errored is infrastructure (``<error>``), never a failure; a result with no score
that failed passes, the rule ``report.build_report`` uses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from promptver.errors import NotFound
from promptver.evals.report import CellReport, RunReport, cost_text, plural

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
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def status(self) -> str:
        """pass | fail | error | not made."""
        return "not made" if self.skipped else "error" if self.passed is None else "pass" if self.passed else "fail"

    def to_json(self) -> dict[str, Any]:
        return {"pairing": self.pairing_id, "case": self.case_id, "repeat": self.repeat, "status": self.status,
                "error": self.error, "error_kind": self.error_kind,
                "failures": [{"scorer": n, "detail": d} for n, d in self.failures], "output": self.output,
                "tokens": None if self.prompt_tokens is None and self.completion_tokens is None else
                {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
                "latency_ms": self.latency_ms, "cost_usd": self.cost_usd, "cached": self.cached}


def case_rows(reg: Any, run_id: str) -> list[CaseRow]:
    """The rows of a stored run in dataset order (then repeat), pairing by pairing as the plan lists them,
    plus a ``skipped`` row for every planned call without a result (an interrupted run)."""
    return list(iter_case_rows(reg, run_id))


def iter_case_rows(reg: Any, run_id: str, pairing_id: str | None = None) -> Iterator[CaseRow]:
    """:func:`case_rows` one pairing at a time (or only ``pairing_id``'s): memory holds one cell's
    rows, never the whole run's."""
    from promptver.evals.store import dataset_case_ids, eval_reader

    reader = eval_reader(reg)  # the database's, or the same queries through a server
    run = reader.run(run_id)
    if run is None:
        raise NotFound(f"no eval run {run_id!r} (see `promptver eval list`)")
    fingerprint = run["plan"].get("fingerprint", {})
    case_ids = dataset_case_ids(reg, run["dataset_version_id"])
    if fingerprint.get("cases") is not None:  # a replay of chosen cases
        chosen = set(fingerprint["cases"])
        case_ids = [cid for cid in case_ids if cid in chosen]
    order = {cid: i for i, cid in enumerate(case_ids)}
    planned = list(fingerprint.get("pairings", []))
    pairings = planned + [t["pairing_id"] for t in reader.cell_totals(run["id"]) if t["pairing_id"] not in planned]
    repeats = int(fingerprint.get("repeats") or 1)
    for pid in pairings if pairing_id is None else [pairing_id]:
        failing: dict[int, list[tuple[str, str]]] = {}
        for s in reader.cell_failed_scores(run["id"], pid):
            failing.setdefault(s["result_id"], []).append((s["scorer"], s["detail"] or ""))
        rows: dict[tuple[str, int], CaseRow] = {}
        for r in reader.cell_results(run["id"], pid):
            errored = bool(r["error"])
            fails = [] if errored else failing.get(r["id"], [])
            output = None if r["output"] is None else _excerpt(r["output"])
            rows[(r["case_id"], r["repeat"])] = CaseRow(
                pid, r["case_id"], r["repeat"], None if errored else not fails, r["error"] or None,
                r["error_kind"], fails, output, r["latency_ms"], r["cost_usd"], bool(r["cached"]),
                prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"])
        if pid in planned:
            for cid in case_ids:
                for repeat in range(repeats):
                    rows.setdefault((cid, repeat), CaseRow(pid, cid, repeat, None, skipped=True))
        yield from sorted(rows.values(), key=lambda c: (order.get(c.case_id, len(order)), c.case_id, c.repeat))


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


# -- JUnit XML ------------------------------------------------------------------------------------
def _x(text: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def _properties(report: RunReport, cell: CellReport) -> list[tuple[str, Any]]:
    """A cell's facts as JUnit properties (CI dashboards read them): counts, status, tokens, cost,
    the endpoint and what the server said it was."""
    tokens = cell.tokens()
    return [("run", report.run["id"]), ("pairing", cell.pairing_id), ("pass_rate", _rate(cell.pass_rate)),
            ("status", cell.status), ("results", cell.total), ("expected", cell.expected), ("errors", cell.errors),
            ("missing", cell.missing), ("cached", cell.cached),
            ("prompt_tokens", "unknown" if tokens is None else tokens["prompt"]),
            ("completion_tokens", "unknown" if tokens is None else tokens["completion"]),
            ("cost_usd", "unknown" if cell.cost_usd is None else f"{cell.cost_usd:.6f}"),
            ("endpoint", cell.endpoint_text()), ("response_models", ", ".join(cell.response_models)),
            ("system_fingerprints", ", ".join(cell.system_fingerprints))]


def junit_xml(report: RunReport, cases: Iterable[CaseRow]) -> str:
    """JUnit XML: one <testsuite> per cell ("PROMPT x MODEL"), one <testcase> per (case, repeat)."""
    run = report.run
    by_pairing: dict[str, list[CaseRow]] = {}
    for c in cases:
        by_pairing.setdefault(c.pairing_id, []).append(c)
    repeats = int(run["plan"].get("fingerprint", {}).get("repeats") or 1)
    repeats = max([repeats, *(c.repeat + 1 for rows in by_pairing.values() for c in rows)])
    root = ET.Element("testsuites", name=_x(run["suite"]))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for cell in report.cells:
        name = f"{cell.prompt} x {cell.model}"
        mine = by_pairing.get(cell.pairing_id, [])
        counts = {"tests": len(mine), "failures": sum(c.passed is False for c in mine),
                  "errors": sum(c.passed is None and not c.skipped for c in mine),
                  "skipped": sum(c.skipped for c in mine)}
        seconds = sum((c.latency_ms or 0.0) for c in mine) / 1000
        suite = ET.SubElement(root, "testsuite", name=_x(name), time=f"{seconds:.3f}",
                              timestamp=run["created_at"].strftime("%Y-%m-%dT%H:%M:%S"),
                              **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(suite, "properties")
        for key, value in _properties(report, cell):
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
    """The run's verdict in words (``RunReport.verdict``): pass, below min_pass_rate in N cells,
    regression in N cells, incomplete (...) and ..., interrupted (...). A comparison not yet added
    to the report (``RunReport.add_comparison``) counts its regressed (or significantly worse) cells."""
    if comparison and not report.regressions:
        worse = [c for c in comparison.get("cells", [])
                 if c.get("regression") or (c.get("significant") and c.get("direction") == "worse")]
        if worse:
            probe = RunReport(report.run, report.cells, report.expected_results, report.failures,
                              [f"{c.get('prompt')} x {c.get('model')}" for c in worse])
            return probe.verdict()
    return report.verdict()


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


def cell_text(cell: CellReport | None, interval: bool = False) -> str:
    """``83% (5/6)``; ``100% (2/2 ran), 28 missing (28 errors)``; ``no scores, 30 missing (30 errors)``.
    ``interval``: the Wilson interval after a complete cell's rate (the terminal's matrix)."""
    if cell is None:
        return "-"
    if cell.pass_rate is None:
        text = "no scores" if cell.expected or cell.total else "no cases"
    elif cell.complete:
        text = f"{pct(cell.pass_rate)} ({cell.passed}/{cell.scored})"
        if interval:
            low, high = cell.interval()
            text += f" [{pct(low)}-{pct(high)}]"
    else:
        text = f"{pct(cell.pass_rate)} ({cell.passed}/{cell.scored} ran)"
    missing = cell.missing_text()
    return text + (f", {missing}" if missing else "")


def reason_lines(report: RunReport) -> list[str]:
    """``30 x auth: no API key for ... (e.g. support-reply/1 x remote-llm/1, case refund)``, most
    frequent first, at most ``MAX_REASONS``; then the endpoints a run stopped calling."""
    lines = []
    for r in report.error_reasons:
        kind = f"{r.kind}: " if r.kind else ""
        lines.append(f"{r.count} x {kind}{r.short()} (e.g. {r.prompt} x {r.model}, case {r.case_id})")
    if report.distinct_reasons > len(report.error_reasons):
        lines.append(f"and {plural(report.distinct_reasons - len(report.error_reasons), 'other reason')}")
    for stop in report.stopped:
        endpoint = stop.get("endpoint")
        where = endpoint.get("url") or endpoint.get("provider") if isinstance(endpoint, dict) else endpoint
        lines.append(f"stopped calling {where or 'an endpoint'}: {stop.get('reason') or 'no reason recorded'}"
                     f" ({stop.get('not_made', '?')} calls not made)")
    return lines


def endpoint_lines(report: RunReport) -> list[str]:
    """Per cell: where its calls went, and what the server said it was (``model``, fingerprint)."""
    lines = []
    for cell in report.cells:
        said = []
        if cell.response_models:
            said.append("model " + ", ".join(cell.response_models))
        if cell.system_fingerprints:
            said.append("system_fingerprint " + ", ".join(cell.system_fingerprints))
        reported = f"; reported {'; '.join(said)}" if said else ""
        lines.append(f"{cell.prompt} x {cell.model}: {cell.endpoint_text()}{reported}")
    return lines


def totals_text(report: RunReport) -> str:
    """``32/90 results, 3 errors, 58 missing, 0 cached, cost ≥ $0.0012 (...), tokens 1234 in / 567 out``."""
    parts = [f"{report.total}/{report.expected_results} results", plural(report.errors, "error")]
    if report.missing:
        parts.append(f"{report.missing} missing")
    parts += [f"{report.cached} cached", "cost " + cost_text(report.cost_known_usd, report.cost_unknown)]
    tokens = report.tokens()
    parts.append("tokens unknown" if tokens is None else f"tokens {tokens['prompt']} in / {tokens['completion']} out")
    return ", ".join(parts)


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
    totals = f"Run `{run['id']}` ({run.get('state') or 'unknown'}): {md_cell(totals_text(report))}"
    content = f", suite content `{report.content_hash}`" if report.content_hash else ""
    lines = [f"## promptver eval {md_cell(run['suite'])}: {md_cell(verdict(report, comparison))}", "", totals, "",
             f"Kind: {report.kind}{content}", ""]
    prompts = list(dict.fromkeys(c.prompt for c in report.cells))
    models = list(dict.fromkeys(c.model for c in report.cells))
    by = {(c.prompt, c.model): c for c in report.cells}
    lines.append("| prompt \\\\ model | " + " | ".join(md_cell(m) for m in models) + " |")
    lines.append("|---|" + "---|" * len(models))
    for p in prompts:
        lines.append(f"| {md_cell(p)} | " + " | ".join(md_cell(cell_text(by.get((p, m)))) for m in models) + " |")
    if report.failures or report.regressions:
        lines += ["", *(f"- **FAIL** {md_cell(f)}" for f in report.failures + report.regressions)]
    reasons = reason_lines(report)
    if reasons:
        lines += ["", "### Errors", "", *(f"- {md_cell(line)}" for line in reasons)]
    resume = report.resume()
    if resume:
        lines += ["", f"Resume: `{resume['command']}` (retries the {resume['retries']} calls that errored and makes "
                      f"the {resume['not_made']} not made)"]
    lines += ["", "| cell | tokens (in / out) | cost | p50 latency | endpoint | reported by the server |",
              "|---|---|---|---|---|---|"]
    for cell in report.cells:
        tokens = cell.tokens()
        token_text = "unknown" if tokens is None else f"{tokens['prompt']} / {tokens['completion']}"
        said = ", ".join(cell.response_models + cell.system_fingerprints) or "-"
        latency = "-" if cell.latency_ms_p50 is None else f"{cell.latency_ms_p50:.0f} ms"
        lines.append(f"| {md_cell(cell.prompt)} x {md_cell(cell.model)} | {token_text} | "
                     f"{md_cell(cost_text(cell.cost_known_usd, cell.cost_unknown))} | {latency} | "
                     f"{md_cell(cell.endpoint_text())} | {md_cell(said)} |")
    if comparison:
        lines += ["", f"### Compared with run `{comparison.get('baseline')}`", "",
                  "| prompt | model | baseline | this run | change |", "|---|---|---|---|---|"]
        for c in comparison.get("cells", []):
            base = c.get("baseline_pairing")
            named = (f"{md_cell(c['baseline_prompt'])} x {md_cell(c.get('baseline_model'))}, "
                     if c.get("baseline_prompt") else "")
            other = f" ({named}pairing `{md_cell(base)}`)" if base and base != c.get("pairing") else ""
            mark = ("**regression**: " if c.get("regression") else "") + \
                   ("**incomplete**: " if c.get("incomplete") else "")
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
