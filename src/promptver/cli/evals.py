"""`promptver eval SUITE` (and `eval list`, `eval show RUN`): replay a suite, show the matrix.

Exit codes: 0 pass; 1 regression or failed threshold; 2 bad input; 3 infrastructure errors or an
incomplete run (even when a cell also failed or regressed: the verdict names both); 130 interrupted
(resumable with --resume RUN). `eval show RUN` exits with the stored run's verdict code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from promptver.cli.common import registry, through_server
from promptver.cli.output import emit_json, err, out, safe, table, when


class _RunByDefault(TyperGroup):
    """`promptver eval FILE` means `promptver eval run FILE`."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_RunByDefault, no_args_is_help=True,
                  help="Replay a versioned test set against prompt x model combinations: `promptver eval SUITE`.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MAX_JOBS = 1024  # = evals.suites.MAX_CONCURRENCY (not imported: command startup stays light; a test keeps them equal)
MAX_REPEATS = 1000  # = evals.suites.MAX_REPEATS


def _matrix(report: Any) -> None:
    from promptver.evals.outputs import cell_text

    prompts = list(dict.fromkeys(c.prompt for c in report.cells))
    models = list(dict.fromkeys(c.model for c in report.cells))
    by = {(c.prompt, c.model): c for c in report.cells}
    rows = [[prompt, *(cell_text(by.get((prompt, model)), interval=True) for model in models)] for prompt in prompts]
    table(["prompt \\ model", *models], rows, upper=False)


def _details(report: Any) -> None:
    """Under the matrix: the distinct error reasons (count, a sample case), then each cell's endpoint."""
    from promptver.evals.outputs import endpoint_lines, reason_lines

    reasons = reason_lines(report)
    if reasons:
        out("")
        out("errors:")
        for line in reasons:
            out("  " + safe(line))
    out("")
    out("endpoints:")
    for line in endpoint_lines(report):
        out("  " + safe(line))


def _summary(report: Any) -> None:
    from promptver.evals.outputs import totals_text

    run = report.run
    content = report.content_hash
    out("")
    out(f"run {run['id']} ({run.get('state')}, {report.kind}"
        f"{', suite content ' + content[:12] if content else ''}): {totals_text(report)}")
    for failure in report.failures + report.regressions:
        out(safe(f"FAIL {failure}"))
    resume = report.resume()
    if resume:
        out(f"resume: {resume['command']} (retries the {resume['retries']} calls that errored and makes the "
            f"{resume['not_made']} not made)")
    out(f"verdict: {report.verdict()} (exit {report.exit_code()})")


@app.command("run")
def run(
    suite: Annotated[Path, typer.Argument(help="A suite file (YAML), e.g. evals/support-reply.yaml.")],
    jobs: Annotated[Optional[int], typer.Option("-j", "--jobs", min=1, max=MAX_JOBS, help="Concurrent calls (default: per model).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Call the models even for cached requests.")] = False,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Finish an interrupted run (its id).")] = None,
    max_cost: Annotated[Optional[float], typer.Option("--max-cost", min=0, help="Refuse to start above this estimated cost (USD).")] = None,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Compare with a run id, or a label (its latest run).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="With --baseline: any case flipping to fail is a regression.")] = False,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Write JUnit XML here.")] = None,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Write a Markdown report here (a CI comment).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a suite: every prompt version x model version it names, scored; exit code says the verdict."""
    from promptver.evals import report as reporting
    from promptver.evals import run as runs
    from promptver.evals.suites import load_suite

    _check_options(resume, max_cost)
    spec = load_suite(suite)
    check_output_paths(junit, markdown)
    with registry() as reg:  # through a server (PROMPTVER_URL): calls made here, the run stored there
        if through_server():
            from promptver.evals.remote_store import require_writer

            require_writer(reg)
        if baseline:  # an unknown baseline is refused before any call (the run itself is never its own baseline)
            from promptver.evals.compare import resolve_baseline

            resolve_baseline(reg, spec.name, baseline)
        progress, announce, close = run_progress(f"eval {spec.name}")
        try:
            outcome = runs.start(reg, spec, jobs=jobs, use_cache=not no_cache, resume=resume, max_cost=max_cost,
                                 progress=progress, announce=announce)
        finally:
            close()
        result = reporting.build_report(reg, outcome.run_id)
        comparison = None
        if baseline:
            from promptver.evals.compare import compare_reports, resolve_baseline

            base_id, released = resolve_baseline(reg, spec.name, baseline, exclude=outcome.run_id)
            comparison = compare_reports(reporting.build_report(reg, base_id), result, released=released,
                                         strict=strict)
            result.add_comparison(comparison)
        _write_outputs(reg, result, comparison, junit, markdown)
    if as_json:
        emit_json({**result.to_json(), "comparison": comparison})
    else:
        _matrix(result)
        _details(result)
        if comparison:
            _comparison(comparison)
        _summary(result)
    raise typer.Exit(result.exit_code())


def _check_options(resume: str | None, max_cost: float | None) -> None:
    from promptver.errors import InvalidValue

    if resume is not None and not resume.strip():
        raise InvalidValue("--resume needs the id of the run to finish (see `promptver eval list`)")
    if max_cost is not None and max_cost != max_cost:  # NaN: no cost is ever above it
        raise InvalidValue("--max-cost must be a number of dollars, not nan")


def check_output_paths(*paths: Path | None) -> None:
    """Refuse, before any call, a report path that cannot be written: a folder, or in no folder."""
    from promptver.errors import InvalidFile
    from promptver.templates.reading import shown

    for path in paths:
        if path is None:
            continue
        try:
            problem = ("it is a folder" if path.is_dir() else
                       None if path.parent.is_dir() else f"there is no folder {shown(path.parent)}")
        except (OSError, ValueError) as exc:
            problem = getattr(exc, "strerror", None) or str(exc)
        if problem:
            raise InvalidFile(f"cannot write the report {shown(path)}: {problem}")


def _write_outputs(reg: Any, result: Any, comparison: Any, junit: Path | None, markdown: Path | None) -> None:
    from promptver.errors import InvalidFile

    try:
        if junit:
            from promptver.evals.outputs import iter_case_rows, junit_xml

            junit.write_text(junit_xml(result, iter_case_rows(reg, result.run["id"])), encoding="utf-8")
        if markdown:
            from promptver.evals.outputs import markdown as render_markdown

            markdown.write_text(render_markdown(result, comparison), encoding="utf-8")
    except OSError as exc:
        raise InvalidFile(f"cannot write the report: {exc.strerror or exc}") from None


def _comparison(comparison: dict[str, Any]) -> None:
    from promptver.evals.report import against

    out("")
    out(f"against {comparison['baseline']}:")
    for c in comparison["cells"]:
        mark = ("REGRESSION " if c["regression"] else "") + ("INCOMPLETE " if c.get("incomplete") else "")
        out(safe(f"  {mark}{c['prompt']} x {c['model']}{against(c)}: {c['summary']}"))
        for case in c["regressed"][:20]:
            out(safe(f"    - {case}: pass -> fail"))
        for case in c["fixed"][:20]:
            out(safe(f"    + {case}: fail -> pass"))


def run_progress(title: str) -> tuple[Any, Any, Any]:
    """A live progress bar on stderr when it is a terminal: (advance, announce, stop). ``announce``
    prints a run's announcement and takes the bar's total from it (``Announcement.calls``), so
    the bar shows N/TOTAL; without a terminal it only prints."""
    if not sys.stderr.isatty():
        return None, err, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    bar.start()
    task = bar.add_task(title, total=None)

    def advance(outcome: Any) -> None:
        bar.advance(task)

    def announce(message: str) -> None:
        calls = getattr(message, "calls", None)  # evals.run.Announcement
        if calls is not None:
            bar.update(task, total=calls, completed=0)
        err(message)

    return advance, announce, bar.stop


@app.command("list")
def list_(suite: Annotated[Optional[str], typer.Option("--suite", help="Only runs of this suite.")] = None,
          as_json: JsonOpt = False) -> None:
    """Eval runs, newest first."""
    from promptver.evals.store import eval_reader

    with registry() as reg:
        runs = eval_reader(reg).runs(suite)
    if as_json:
        emit_json([{"run": r["id"], "suite": r["suite"], "kind": r.get("kind") or "suite", "state": r["state"],
                    "calls": r["plan"].get("calls"), "created_at": r["created_at"].isoformat().replace("+00:00", "Z"),
                    "actor": r["actor"]} for r in runs])
        return
    table(["run", "suite", "kind", "state", "calls", "started", "by"],
          [[r["id"], r["suite"], r.get("kind") or "suite", r["state"] or "-", str(r["plan"].get("calls")),
            when(r["created_at"]), r["actor"]] for r in runs])


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
         cases: Annotated[bool, typer.Option("--cases", help="List every call: pass/fail/error, failing scorers, "
                                                             "output excerpt, tokens, latency.")] = False,
         failed: Annotated[bool, typer.Option("--failed", help="List only the calls that failed, errored or "
                                                               "were not made (implies --cases).")] = False,
         as_json: JsonOpt = False) -> None:
    """The matrix of a stored run (prompt versions x model versions with pass rates); exits with its verdict's code."""
    from promptver.errors import NotFound
    from promptver.evals.outputs import iter_case_rows
    from promptver.evals.report import build_report
    from promptver.evals.store import eval_reader

    with registry() as reg:
        found = eval_reader(reg).run(run_id)
        if found is None:
            raise NotFound(f"no eval run {run_id!r} (see `promptver eval list`)")
        result = build_report(reg, found["id"])
        rows = None
        if cases or failed:
            rows = (r for r in iter_case_rows(reg, found["id"]) if not failed or r.status != "pass")
        if as_json:
            data = result.to_json()
            if rows is not None:
                data["cases"] = [r.to_json() for r in rows]
            emit_json(data)
        else:
            _matrix(result)
            _details(result)
            if rows is not None:
                _case_lines(result, rows)
            _summary(result)
    raise typer.Exit(result.exit_code())


CASE_OUTPUT_CHARS = 160


def _case_lines(report: Any, rows: Any) -> None:
    """One line per call (cell, case#repeat, status, tokens, latency, cached), then its failing
    scorers, its error and an excerpt of its output, indented."""
    names = {c.pairing_id: f"{c.prompt} x {c.model}" for c in report.cells}
    repeats = int(report.run["plan"].get("fingerprint", {}).get("repeats") or 1) > 1
    out("")
    out("cases:")
    shown = 0
    for r in rows:
        shown += 1
        facts = [r.status.upper() if r.status != "pass" else "pass"]
        if r.prompt_tokens is not None or r.completion_tokens is not None:
            facts.append(f"tokens {r.prompt_tokens if r.prompt_tokens is not None else '?'} in / "
                         f"{r.completion_tokens if r.completion_tokens is not None else '?'} out")
        if r.latency_ms is not None:
            facts.append(f"{r.latency_ms:.0f} ms")
        if r.cached:
            facts.append("cached")
        name = r.case_id + (f"#{r.repeat}" if repeats else "")
        out(safe(f"  {names.get(r.pairing_id, r.pairing_id)}  {name}  {', '.join(facts)}"))
        for scorer, detail in r.failures:
            out(safe(f"      {scorer}: {' '.join(detail.split())}"))
        if r.error:
            out(safe(f"      error ({r.error_kind or 'error'}): {' '.join(r.error.split())}"))
        if r.output is not None and r.status != "pass":
            text = " ".join(r.output.split())
            text = text if len(text) <= CASE_OUTPUT_CHARS else text[:CASE_OUTPUT_CHARS - 3] + "..."
            out(safe(f"      output: {text}"))
    if not shown:
        out("  (none)")


@app.command("compare")
def compare_cmd(baseline: Annotated[str, typer.Argument(help="The earlier run (id or prefix).")],
                run_id: Annotated[str, typer.Argument(help="The later run (id or prefix).")],
                strict: Annotated[bool, typer.Option("--strict", help="Any case flipping to fail is a regression.")] = False,
                as_json: JsonOpt = False) -> None:
    """Compare two runs cell by cell: flipped cases, McNemar significance; exit 1 on a regression, 3 if incomplete."""
    from promptver.errors import NotFound
    from promptver.evals.compare import compare
    from promptver.evals.report import EXIT_INFRA, EXIT_PASS, EXIT_REGRESSION, plural
    from promptver.evals.store import eval_reader

    with registry() as reg:
        reader = eval_reader(reg)
        found = [reader.run(r) for r in (baseline, run_id)]
        for ref, run in zip((baseline, run_id), found):
            if run is None:
                raise NotFound(f"no eval run {ref!r} (see `promptver eval list`)")
        comparison = compare(reg, found[0]["id"], found[1]["id"], strict=strict)  # type: ignore[index]
    regressed = sum(1 for c in comparison["cells"] if c["regression"])
    incomplete = sum(1 for c in comparison["cells"] if c["incomplete"])
    parts = ([f"incomplete in {plural(incomplete, 'cell')}"] if incomplete else []) + \
            ([f"regression in {plural(regressed, 'cell')}"] if regressed else [])
    code = EXIT_INFRA if incomplete else EXIT_REGRESSION if regressed else EXIT_PASS
    if as_json:
        emit_json({**comparison, "verdict": " and ".join(parts) or "pass", "exit_code": code})
    else:
        _comparison(comparison)
        out("")
        out(f"verdict: {' and '.join(parts) or 'pass'} (exit {code})")
    raise typer.Exit(code)


@app.command("history")
def history_cmd(suite: Annotated[str, typer.Argument(help="Suite name, or the suite's file (as `eval run` takes it).")],
                limit: Annotated[int, typer.Option("--limit", min=1, help="How many of the latest runs.")] = 30,
                as_json: JsonOpt = False) -> None:
    """Each pairing's pass rate over the suite's runs, with a sparkline: long-term monitoring."""
    from promptver.evals.history import history, render_history

    name = _suite_name(suite)
    with registry() as reg:
        rows = history(reg, name, limit)
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        out(f"no runs of suite {name!r} yet")
    for line in render_history(rows):
        out(line)


def _suite_name(suite: str) -> str:
    """A suite's name as runs record it: given as such, or read from its file (a path, or a name ending
    in .yaml/.yml)."""
    from promptver.templates.reading import is_regular

    path = Path(suite)
    if path.suffix.lower() in (".yaml", ".yml") or "/" in suite or "\\" in suite or is_regular(path):
        from promptver.evals.suites import load_suite

        return load_suite(path).name
    return suite
