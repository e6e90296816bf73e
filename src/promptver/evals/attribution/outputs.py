"""Attribution and bisect reports as text: plain lines for the terminal and Markdown for an
incident ticket. Both read the stored report JSON only, so a report shows the same again later."""

from __future__ import annotations

from typing import Any

from promptver.core.diff import half_lines
from promptver.evals.outputs import md_cell, pct

CLASS_WORDS = {"unchanged": "unchanged", "prompt": "changed by the prompt alone (revert the prompt)",
               "model": "changed by the model alone (revert the model)",
               "either": "changed by either change alone (only reverting both fixes it)",
               "both": "changed only with both changes (reverting either one fixes it)",
               "mixed": "mixed: the changes interact (see the cells)", "noise": "within noise",
               "interaction": "changed only with both (interaction)"}  # reports stored before the revert classes
CORNER_WORDS = {"before": "old prompt + old model", "prompt": "new prompt + old model",
                "model": "old prompt + new model", "after": "new prompt + new model"}


def _signed(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    if metric == "pass_rate":
        text = f"{value * 100:+.1f} pts"
    else:
        text = f"{value:+.3f}"
    return text.replace("+0.0 pts", "0.0 pts").replace("-0.0 pts", "0.0 pts")


def _interval(effect: dict[str, Any], name: str, metric: str) -> str:
    pair = effect.get("intervals", {}).get(name)
    if not pair:
        return ""
    return f" [{_signed(pair[0], metric)}, {_signed(pair[1], metric)}]"


def _value(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return pct(value) if metric == "pass_rate" else f"{value:.3g}"


def _cells(case: dict[str, Any], metric: str) -> str:
    """``B 100% P 0% M 100% A 0%`` (the four cells of a case on the classifying metric)."""
    cells = case.get("cells") or case.get("pass") or {}
    return " ".join(f"{k[0].upper()} {_value(cells[k], metric)}" for k in ("before", "prompt", "model", "after")
                    if k in cells)


def _shaky(report: dict[str, Any]) -> list[str]:
    out = []
    for flagged in report.get("nondeterministic", []):
        out.append(f"non-deterministic: {flagged['prompt']} + {flagged['model']} ({flagged['corner']}) answered the "
                   f"same request differently for {len(flagged['cases'])} case(s): {', '.join(flagged['cases'][:8])}"
                   + (", ..." if len(flagged["cases"]) > 8 else ""))
    return out


def _diff_lines(report: dict[str, Any], indent: str = "    ") -> list[str]:
    """Both halves of the change (prompt and model), without the unified diff's file headers."""
    diff = report.get("diff") or {}
    return [line for kind in ("prompt", "model") for line in half_lines(kind, diff.get(kind), indent)
            if not line.startswith((indent + "--- ", indent + "+++ "))]


def _excerpt(text: Any, width: int = 70) -> str:
    flat = " ".join(str(text if text is not None else "(no output)").split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report for a terminal (the caller makes user text safe to print)."""
    if report.get("kind") == "bisect":
        return bisect_lines(report)
    metric = report.get("metric", "pass_rate")
    lines = [f"attribution {report['id']}: {report['question']}"]
    if report.get("headline") and report.get("run"):
        lines.append(f"  {report['headline']['text']}")
    lines += [f"  before: {report['before']['pairing']} ({report['before']['prompt']} + {report['before']['model']})",
              f"  after:  {report['after']['pairing']} ({report['after']['prompt']} + {report['after']['model']})"]
    changed = [k for k in ("prompt", "model") if report["changed"][k]]
    lines.append(f"  changed: {' and '.join(changed) if changed else 'nothing'}")
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    if not report.get("run"):
        return lines
    lines.append(f"  replayed suite {report['suite']} in run {report['run']}: {report['calls']} calls, "
                 f"{report['cached']} from the cache, {report['repeats']} repeat(s) per cell")
    lines += ["", "what changed:"] + [f"  {line}" for line in _diff_lines(report)]
    lines += ["", "pass rate per cell:"]
    for name, corner in report["corners"].items():
        lines.append(f"  {CORNER_WORDS[name]:<24} {corner['prompt']} + {corner['model']}: {pct(corner.get('pass_rate'))}")
    lines += ["", "effects (95% interval over cases):"]
    for name, effect in report["effects"].items():
        parts = [f"total {_signed(effect['total'], name)}",
                 f"prompt {_signed(effect['prompt'], name)}{_interval(effect, 'prompt', name)}",
                 f"model {_signed(effect['model'], name)}{_interval(effect, 'model', name)}"]
        if effect.get("interaction") is not None:
            parts.append(f"interaction {_signed(effect['interaction'], name)}{_interval(effect, 'interaction', name)}")
        lines.append(f"  {name}: " + ", ".join(parts))
    rule = f", a difference counts when significant at {report['alpha']}" if report.get("alpha") else ""
    lines += ["", f"cases (classes on {metric}{rule}; cells B P M A):"]
    for klass, count in report["counts"].items():
        if count:
            ids = [c["id"] for c in report["cases"] if c["class"] == klass]
            shown = ", ".join(ids[:12]) + (f", ... ({len(ids) - 12} more)" if len(ids) > 12 else "")
            lines.append(f"  {count:>4} {CLASS_WORDS[klass]}: {shown}")
    if report.get("incomplete"):
        lines.append(f"  {len(report['incomplete']):>4} not compared (provider errors): {', '.join(report['incomplete'])}")
    lines += [f"  {line}" for line in _shaky(report)]
    for klass, examples in report.get("examples", {}).items():
        lines += ["", f"examples, {CLASS_WORDS[klass]}:"]
        for example in examples:
            lines.append(f"  {example['id']}: {_cells(example, metric)}")
            for corner, text in example["outputs"].items():
                lines.append(f"    {corner:<7} ({pct(example['pass'][corner])} pass) {_excerpt(text)}")
    return lines


def bisect_lines(report: dict[str, Any]) -> list[str]:
    lines = [f"bisect {report['id']}: {report['question']}",
             f"  good: {report['good']['pairing']} ({report['good']['prompt']} + {report['good']['model']})",
             f"  bad:  {report['bad']['pairing']} ({report['bad']['prompt']} + {report['bad']['model']})",
             f"  {report['replays']} replays (cells evaluated) for {report['candidates']} candidate versions; "
             f"runs {', '.join(report['runs']) or '-'}"]
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    lines += ["", "first version at which each failing case changed:"]
    if not report["cases"]:
        lines.append("  (no case passes on the good pairing and fails on the bad one)")
    for case in report["cases"]:
        with_ = f" with {case['with']}" if case.get("with") else ""
        cells = case.get("cells") or {}
        counts = "".join(f", {word} {cells[key]['passed']}/{cells[key]['of']} passed"
                         for key, word in (("last_good", "good cell"), ("first_bad", "blamed cell")) if key in cells)
        flags = ""
        if case.get("nondeterministic"):
            flags += f"; non-deterministic: {', '.join(k.replace('_', ' ') for k in case['nondeterministic'])}"
        if case.get("uncertain"):
            flags += f"; uncertain at {', '.join(case['uncertain'])}"
        lines.append(f"  {case['id']}: {case['axis']} {case['first_bad']}{with_} (last good: {case['last_good']}"
                     f"{counts}){flags}")
    for version, ids in report.get("by_version", {}).items():
        lines.append(f"  {version}: {len(ids)} case(s)")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report for an incident ticket: the actionable answer first."""
    if report.get("kind") == "bisect":
        body = "\n".join(bisect_lines(report))
        return f"## promptver bisect `{report['id']}`\n\n```\n{body}\n```\n"
    metric = report.get("metric", "pass_rate")
    out = [f"## promptver attribution `{report['id']}`", ""]
    if report.get("headline") and report.get("run"):
        out += [f"**{md_cell(report['headline']['text'])}**", ""]
    out += [f"{md_cell(report['question'])}", "",
            f"- before: `{report['before']['pairing']}` ({report['before']['prompt']} + {report['before']['model']})",
            f"- after: `{report['after']['pairing']}` ({report['after']['prompt']} + {report['after']['model']})"]
    out += [f"- note: {md_cell(n)}" for n in report.get("notes", [])]
    out += [f"- {md_cell(line)}" for line in _shaky(report)]
    if report.get("run"):
        out += [f"- replay: suite `{report['suite']}`, run `{report['run']}`, {report['calls']} calls "
                f"({report['cached']} cached), {report['repeats']} repeat(s); classes on `{metric}`"
                + (f", significant at {report['alpha']}" if report.get("alpha") else ""), "",
                "| class | cases |", "|---|---|"]
        for klass, count in report["counts"].items():
            if count:
                ids = ", ".join(c["id"] for c in report["cases"] if c["class"] == klass)
                out.append(f"| {CLASS_WORDS[klass]} | {count}: {md_cell(ids)} |")
        changed = [c for c in report["cases"] if c["class"] not in ("unchanged", "noise")]
        if changed:
            out += ["", "| case | class | before | prompt | model | after | revert prompt fixes | revert model fixes | "
                    "non-deterministic cells |", "|---|---|---:|---:|---:|---:|---|---|---|"]
            for c in changed:
                cells = c.get("cells") or c.get("pass", {})
                revert = c.get("revert") or {}
                out.append(f"| {md_cell(c['id'])} | {c['class']} | " + " | ".join(
                    _value(cells.get(k), metric) for k in ("before", "prompt", "model", "after"))
                    + f" | {_yes(revert.get('prompt'))} | {_yes(revert.get('model'))} | "
                    + f"{', '.join(c.get('nondeterministic') or []) or '-'} |")
        out += ["", "| metric | total | prompt | model | interaction |", "|---|---:|---:|---:|---:|"]
        for name, e in report["effects"].items():
            out.append(f"| {name} | {_signed(e['total'], name)} | {_signed(e['prompt'], name)}"
                       f"{_interval(e, 'prompt', name)} | {_signed(e['model'], name)}{_interval(e, 'model', name)}"
                       f" | {_signed(e.get('interaction'), name)} |")
        for klass, examples in report.get("examples", {}).items():
            corners = list(examples[0]["outputs"]) if examples else []
            out += ["", f"### {CLASS_WORDS[klass]}", "", "| case | " + " | ".join(corners) + " |",
                    "|---|" + "---|" * len(corners)]
            for ex in examples:
                out.append(f"| {md_cell(ex['id'])} | " + " | ".join(md_cell(_excerpt(ex['outputs'][c], 60)) for c in corners) + " |")
        out += ["", "### what changed", "", "```diff", *_diff_lines(report, ""), "```"]
    return "\n".join(out) + "\n"


def _yes(flag: bool | None) -> str:
    return "-" if flag is None else ("yes" if flag else "no")
