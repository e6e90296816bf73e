"""Attribution and bisect reports as text: plain lines for the terminal and Markdown for an
incident ticket. Both read the stored report JSON only, so a report shows the same again later."""

from __future__ import annotations

from typing import Any

from promptver.evals.outputs import md_cell, pct

CLASS_WORDS = {"unchanged": "unchanged", "prompt": "changed by the prompt", "model": "changed by the model",
               "interaction": "changed only with both (interaction)", "noise": "within noise"}
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


def _excerpt(text: Any, width: int = 70) -> str:
    flat = " ".join(str(text if text is not None else "(no output)").split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report for a terminal (the caller makes user text safe to print)."""
    if report.get("kind") == "bisect":
        return bisect_lines(report)
    lines = [f"attribution {report['id']}: {report['question']}",
             f"  before: {report['before']['pairing']} ({report['before']['prompt']} + {report['before']['model']})",
             f"  after:  {report['after']['pairing']} ({report['after']['prompt']} + {report['after']['model']})"]
    changed = [k for k in ("prompt", "model") if report["changed"][k]]
    lines.append(f"  changed: {' and '.join(changed) if changed else 'nothing'}")
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    if not report.get("run"):
        return lines
    lines.append(f"  replayed suite {report['suite']} in run {report['run']}: {report['calls']} calls, "
                 f"{report['cached']} from the cache, {report['repeats']} repeat(s) per cell")
    lines += ["", "what changed:"]
    for kind in ("prompt", "model"):
        diff = (report.get("diff") or {}).get(kind)
        if not diff:
            continue
        lines.append(f"  {kind} {diff['old']} -> {diff['new']}:")
        lines += [f"    {line}" for line in diff["text_diff"].splitlines()[2:]]
        lines += [f"    {f['path']}: {f['change']} {f['old']!r} -> {f['new']!r}" for f in diff["fields"]]
    lines += ["", "pass rate per cell:"]
    for name, corner in report["corners"].items():
        lines.append(f"  {CORNER_WORDS[name]:<24} {corner['prompt']} + {corner['model']}: {pct(corner.get('pass_rate'))}")
    lines += ["", "effects (95% interval over cases):"]
    for metric, effect in report["effects"].items():
        parts = [f"total {_signed(effect['total'], metric)}",
                 f"prompt {_signed(effect['prompt'], metric)}{_interval(effect, 'prompt', metric)}",
                 f"model {_signed(effect['model'], metric)}{_interval(effect, 'model', metric)}"]
        if effect.get("interaction") is not None:
            parts.append(f"interaction {_signed(effect['interaction'], metric)}{_interval(effect, 'interaction', metric)}")
        lines.append(f"  {metric}: " + ", ".join(parts))
    lines += ["", "cases:"]
    for klass, count in report["counts"].items():
        if count:
            ids = [c["id"] for c in report["cases"] if c["class"] == klass]
            shown = ", ".join(ids[:12]) + (f", ... ({len(ids) - 12} more)" if len(ids) > 12 else "")
            lines.append(f"  {count:>4} {CLASS_WORDS[klass]}: {shown}")
    if report.get("incomplete"):
        lines.append(f"  {len(report['incomplete']):>4} not compared (provider errors): {', '.join(report['incomplete'])}")
    for flagged in report.get("nondeterministic", []):
        lines.append(f"  non-deterministic: {flagged['prompt']} + {flagged['model']} answered the same request "
                     f"differently for {len(flagged['cases'])} case(s): {', '.join(flagged['cases'][:8])}")
    for klass, examples in report.get("examples", {}).items():
        lines += ["", f"examples, {CLASS_WORDS[klass]}:"]
        for example in examples:
            lines.append(f"  {example['id']}:")
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
        with_ = f"with {case['with']}" if case.get("with") else ""
        lines.append(f"  {case['id']}: {case['axis']} {case['first_bad']} {with_} (last good: {case['last_good']})".rstrip())
    for version, ids in report.get("by_version", {}).items():
        lines.append(f"  {version}: {len(ids)} case(s)")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report for an incident ticket."""
    if report.get("kind") == "bisect":
        body = "\n".join(bisect_lines(report))
        return f"## promptver bisect `{report['id']}`\n\n```\n{body}\n```\n"
    out = [f"## promptver attribution `{report['id']}`", "", f"**{md_cell(report['question'])}**", "",
           f"- before: `{report['before']['pairing']}` ({report['before']['prompt']} + {report['before']['model']})",
           f"- after: `{report['after']['pairing']}` ({report['after']['prompt']} + {report['after']['model']})"]
    out += [f"- note: {md_cell(n)}" for n in report.get("notes", [])]
    if report.get("run"):
        out += [f"- replay: suite `{report['suite']}`, run `{report['run']}`, {report['calls']} calls "
                f"({report['cached']} cached), {report['repeats']} repeat(s)", "",
                "| metric | total | prompt | model | interaction |", "|---|---:|---:|---:|---:|"]
        for metric, e in report["effects"].items():
            out.append(f"| {metric} | {_signed(e['total'], metric)} | {_signed(e['prompt'], metric)}"
                       f"{_interval(e, 'prompt', metric)} | {_signed(e['model'], metric)}{_interval(e, 'model', metric)}"
                       f" | {_signed(e.get('interaction'), metric)} |")
        out += ["", "| class | cases |", "|---|---|"]
        for klass, count in report["counts"].items():
            if count:
                ids = ", ".join(c["id"] for c in report["cases"] if c["class"] == klass)
                out.append(f"| {CLASS_WORDS[klass]} | {count}: {md_cell(ids)} |")
        for klass, examples in report.get("examples", {}).items():
            corners = list(examples[0]["outputs"]) if examples else []
            out += ["", f"### {CLASS_WORDS[klass]}", "", "| case | " + " | ".join(corners) + " |",
                    "|---|" + "---|" * len(corners)]
            for ex in examples:
                out.append(f"| {md_cell(ex['id'])} | " + " | ".join(md_cell(_excerpt(ex['outputs'][c], 60)) for c in corners) + " |")
        diff = (report.get("diff") or {}).get("prompt")
        if diff and diff["text_diff"]:
            out += ["", "### prompt diff", "", "```diff", diff["text_diff"], "```"]
    return "\n".join(out) + "\n"
