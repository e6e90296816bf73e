"""`promptver eval SUITE` (and `eval list`, `eval show RUN`): replay a suite, show the matrix.

Exit codes: 0 pass; 1 regression or failed threshold; 2 bad input; 3 infrastructure errors or an
incomplete run; 130 interrupted (resumable with --resume RUN).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from promptver.cli.common import local_only, registry
from promptver.cli.output import emit_json, err, out, table, when


class _RunByDefault(TyperGroup):
    """`promptver eval FILE` means `promptver eval run FILE`."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_RunByDefault, no_args_is_help=True,
                  help="Replay a versioned test set against prompt x model combinations: `promptver eval SUITE`.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _matrix(report: Any) -> None:
    prompts = list(dict.fromkeys(c.prompt for c in report.cells))
    models = list(dict.fromkeys(c.model for c in report.cells))
    by = {(c.prompt, c.model): c for c in report.cells}
    rows = []
    for prompt in prompts:
        row = [prompt]
        for model in models:
            cell = by.get((prompt, model))
            if cell is None or cell.pass_rate is None:
                row.append("-" if cell is None else f"no scores ({cell.errors} errors)")
                continue
            low, high = cell.interval()
            text = f"{cell.pass_rate:.0%} ({cell.passed}/{cell.scored}) [{low:.0%}-{high:.0%}]"
            row.append(text + (f" {cell.errors} err" if cell.errors else ""))
        rows.append(row)
    table(["prompt \\ model", *models], rows, upper=False)


def _summary(report: Any) -> None:
    run = report.run
    out("")
    out(f"run {run['id']} ({run.get('state')}): {report.total} results, {report.errors} errors, "
        f"{sum(c.cached for c in report.cells)} cached, ${sum(c.cost_usd for c in report.cells):.4f}")
    for failure in report.failures:
        out(f"FAIL {failure}")
    code = report.exit_code()
    verdict = {0: "pass", 1: "regression or failed threshold", 3: "infrastructure errors or incomplete",
               130: "interrupted (resume with --resume " + run["id"] + ")"}[code]
    out(f"verdict: {verdict} (exit {code})")


@app.command("run")
def run(
    suite: Annotated[Path, typer.Argument(help="A suite file (YAML), e.g. evals/support-reply.yaml.")],
    jobs: Annotated[Optional[int], typer.Option("-j", "--jobs", min=1, help="Concurrent calls (default: per model).")] = None,
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

    local_only("eval")
    spec = load_suite(suite)
    with registry() as reg:
        progress, close = progress_bar(f"eval {spec.name}")
        try:
            outcome = runs.start(reg, spec, jobs=jobs, use_cache=not no_cache, resume=resume, max_cost=max_cost,
                                 progress=progress, announce=err)
        finally:
            close()
        result = reporting.build_report(reg, outcome.run_id)
        comparison = None
        if baseline:
            from promptver.evals.compare import compare, resolve_baseline

            base_id, released = resolve_baseline(reg, spec.name, baseline, exclude=outcome.run_id)
            comparison = compare(reg, base_id, outcome.run_id, released=released, strict=strict)
            result.failures += [f"{c['prompt']} x {c['model']}: regressed against {comparison['baseline']}: "
                                f"{c['summary']}" for c in comparison["cells"] if c["regression"]]
        _write_outputs(reg, result, comparison, junit, markdown)
    if as_json:
        emit_json({**result.to_json(), "comparison": comparison})
    else:
        _matrix(result)
        if comparison:
            _comparison(comparison)
        _summary(result)
    raise typer.Exit(result.exit_code())


def _write_outputs(reg: Any, result: Any, comparison: Any, junit: Path | None, markdown: Path | None) -> None:
    from promptver.errors import InvalidFile

    try:
        if junit:
            from promptver.evals.outputs import case_rows, junit_xml

            junit.write_text(junit_xml(result, case_rows(reg, result.run["id"])), encoding="utf-8")
        if markdown:
            from promptver.evals.outputs import markdown as render_markdown

            markdown.write_text(render_markdown(result, comparison), encoding="utf-8")
    except OSError as exc:
        raise InvalidFile(f"cannot write the report: {exc.strerror or exc}") from None


def _comparison(comparison: dict[str, Any]) -> None:
    out("")
    out(f"against {comparison['baseline']}:")
    for c in comparison["cells"]:
        mark = "REGRESSION " if c["regression"] else ""
        out(f"  {mark}{c['prompt']} x {c['model']}: {c['summary']}")
        for case in c["regressed"][:20]:
            out(f"    - {case}: pass -> fail")
        for case in c["fixed"][:20]:
            out(f"    + {case}: fail -> pass")


def progress_bar(title: str) -> tuple[Any, Any]:
    """A live progress bar on stderr when it is a terminal (nothing otherwise): (advance, stop)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    bar.start()
    task = bar.add_task(title, total=None)

    def advance(outcome: Any) -> None:
        bar.advance(task)

    return advance, bar.stop


@app.command("list")
def list_(suite: Annotated[Optional[str], typer.Option("--suite", help="Only runs of this suite.")] = None,
          as_json: JsonOpt = False) -> None:
    """Eval runs, newest first."""
    local_only("eval list")
    from promptver.storage.reader import EvalReader

    with registry() as reg:
        runs = EvalReader(reg.reader).runs(suite)
    if as_json:
        emit_json([{"run": r["id"], "suite": r["suite"], "state": r["state"], "calls": r["plan"].get("calls"),
                    "created_at": r["created_at"].isoformat().replace("+00:00", "Z"), "actor": r["actor"]} for r in runs])
        return
    table(["run", "suite", "state", "calls", "started", "by"],
          [[r["id"], r["suite"], r["state"] or "-", str(r["plan"].get("calls")), when(r["created_at"]), r["actor"]]
           for r in runs])


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")], as_json: JsonOpt = False) -> None:
    """The matrix of a stored run: prompt versions x model versions with pass rates."""
    local_only("eval show")
    from promptver.errors import NotFound
    from promptver.evals.report import build_report
    from promptver.storage.reader import EvalReader

    with registry() as reg:
        found = EvalReader(reg.reader).run(run_id)
        if found is None:
            raise NotFound(f"no eval run {run_id!r} (see `promptver eval list`)")
        result = build_report(reg, found["id"])
    if as_json:
        emit_json(result.to_json())
        return
    _matrix(result)
    _summary(result)


@app.command("compare")
def compare_cmd(baseline: Annotated[str, typer.Argument(help="The earlier run (id or prefix).")],
                run_id: Annotated[str, typer.Argument(help="The later run (id or prefix).")],
                strict: Annotated[bool, typer.Option("--strict", help="Any case flipping to fail is a regression.")] = False,
                as_json: JsonOpt = False) -> None:
    """Compare two runs cell by cell: flipped cases, McNemar significance; exit 1 on a regression."""
    local_only("eval compare")
    from promptver.errors import NotFound
    from promptver.evals.compare import compare
    from promptver.storage.reader import EvalReader

    with registry() as reg:
        reader = EvalReader(reg.reader)
        found = [reader.run(r) for r in (baseline, run_id)]
        for ref, run in zip((baseline, run_id), found):
            if run is None:
                raise NotFound(f"no eval run {ref!r} (see `promptver eval list`)")
        comparison = compare(reg, found[0]["id"], found[1]["id"], strict=strict)  # type: ignore[index]
    if as_json:
        emit_json(comparison)
    else:
        _comparison(comparison)
    raise typer.Exit(1 if comparison["regression"] else 0)


@app.command("history")
def history_cmd(suite: Annotated[str, typer.Argument(help="Suite name (its file name without .yaml).")],
                limit: Annotated[int, typer.Option("--limit", min=1, help="How many of the latest runs.")] = 30,
                as_json: JsonOpt = False) -> None:
    """Each pairing's pass rate over the suite's runs, with a sparkline: long-term monitoring."""
    from promptver.evals.history import history, render_history

    local_only("eval history")
    with registry() as reg:
        rows = history(reg, suite, limit)
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        out(f"no runs of suite {suite!r} yet")
    for line in render_history(rows):
        out(line)
