"""`promptver attribute` (was it the prompt, the model, or both?), `attribute show/list`, and
`promptver bisect`.

Exit codes: 0 a report was made; 2 bad input (times, labels, refs, suite); 3 some cases could not
be compared (provider errors; the report says which); 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from promptver.cli.common import local_only, registry, user_time
from promptver.cli.evals import MAX_JOBS, MAX_REPEATS, check_output_paths, run_progress
from promptver.cli.output import emit_json, out, safe, table, when


class _AttributeByDefault(TyperGroup):
    """`promptver attribute REF ...` means `promptver attribute run REF ...`."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_AttributeByDefault, no_args_is_help=True,
                  help="Was it the prompt, the model, or both? `promptver attribute NAME@LABEL --from T --to T --suite FILE`.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MarkdownOpt = Annotated[Optional[Path], typer.Option("--markdown", help="Write a Markdown report here (an incident ticket).")]
SuiteOpt = Annotated[Path, typer.Option("--suite", help="The eval suite whose fixed test set is replayed.")]
RepeatsOpt = Annotated[Optional[int], typer.Option("--repeats", min=1, max=MAX_REPEATS, help="Repeats per cell (default: the suite's); 3+ tells noise from change.")]
JobsOpt = Annotated[Optional[int], typer.Option("-j", "--jobs", min=1, max=MAX_JOBS, help="Concurrent calls.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Call the models even for cached requests.")]
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130


def _emit(report: dict[str, Any], as_json: bool, markdown: Path | None) -> None:
    from promptver.errors import InvalidFile
    from promptver.evals.attribution import markdown as render_markdown
    from promptver.evals.attribution import summary_lines

    if markdown:
        try:
            markdown.write_text(render_markdown(report), encoding="utf-8")
        except OSError as exc:
            raise InvalidFile(f"cannot write the report: {exc.strerror or exc}") from None
    if as_json:
        emit_json(report)
    else:
        for line in summary_lines(report):
            out(safe(line))


def _exit_code(report: dict[str, Any]) -> int:
    if report.get("state") == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_INCOMPLETE if report.get("incomplete") else 0


@app.command("run")
def run(
    ref: Annotated[str, typer.Argument(help="NAME@LABEL (with --from/--to), or the pairing before.")],
    suite: SuiteOpt,
    after: Annotated[Optional[str], typer.Argument(help="The pairing after (instead of --from/--to).")] = None,
    start: Annotated[Optional[str], typer.Option("--from", help="When it was fine: ISO 8601, a UTC time, 1h ago, yesterday 14:00.")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="When it was not (as --from; default now).")] = None,
    repeats: RepeatsOpt = None,
    jobs: JobsOpt = None,
    no_cache: NoCacheOpt = False,
    markdown: MarkdownOpt = None,
    as_json: JsonOpt = False,
    metric: Annotated[str, typer.Option("--metric", help="The metric the case classes use: pass_rate (default), a scorer's name, latency_ms or cost_usd.")] = "pass_rate",
) -> None:
    """Find the pairings before and after, replay the suite on old/new prompt x old/new model, attribute."""
    from promptver.errors import InvalidValue
    from promptver.evals import attribution
    from promptver.evals.suites import load_suite

    local_only("attribute")
    if after is not None and (start or end):
        raise InvalidValue("give either two pairings or NAME@LABEL with --from/--to, not both")
    if after is None and not start:
        raise InvalidValue("give --from TIME (and --to TIME, default now) with NAME@LABEL, or a second pairing")
    spec = load_suite(suite)
    attribution.check_metric(spec, metric)
    check_output_paths(markdown)
    with registry() as reg:
        if after is None:
            sides = attribution.sides_from_label(reg, ref, user_time(start or ""), user_time(end or "now"))
        else:
            sides = attribution.sides_from_pairings(reg, ref, after)
        progress, announce, close = run_progress(f"attribute {sides.before.prompt.name}")
        try:
            report = attribution.attribute(reg, sides, spec, repeats=repeats, jobs=jobs, use_cache=not no_cache,
                                           progress=progress, announce=announce, metric=metric)
        finally:
            close()
    _emit(report, as_json, markdown)
    raise typer.Exit(_exit_code(report))


@app.command("show")
def show(report_id: Annotated[str, typer.Argument(help="Report id (or a unique prefix).")],
         markdown: MarkdownOpt = None, as_json: JsonOpt = False) -> None:
    """A stored attribution or bisect report, as it was made."""
    from promptver.errors import NotFound
    from promptver.storage.reader import ReportReader

    local_only("attribute show")
    with registry() as reg:
        found = ReportReader(reg.reader).get(report_id)
    if found is None:
        raise NotFound(f"no attribution report {report_id!r} (see `promptver attribute list`)")
    _emit(found["report"], as_json, markdown)


@app.command("list")
def list_(prompt: Annotated[Optional[str], typer.Option("--prompt", help="Only reports on this prompt.")] = None,
          as_json: JsonOpt = False) -> None:
    """Stored attribution and bisect reports, newest first."""
    from promptver.storage.reader import ReportReader

    local_only("attribute list")
    with registry() as reg:
        rows = ReportReader(reg.reader).list(prompt)
    if as_json:
        emit_json([{"id": r["id"], "kind": r["kind"], "prompt": r["prompt"], "before": r["before_pairing"],
                    "after": r["after_pairing"], "suite": r["suite"], "question": r["report"].get("question"),
                    "counts": r["report"].get("counts"),
                    "created_at": r["created_at"].isoformat().replace("+00:00", "Z"), "actor": r["actor"]}
                   for r in rows])
        return
    table(["id", "kind", "prompt", "before", "after", "suite", "made", "by"],
          [[r["id"], r["kind"], r["prompt"], r["before_pairing"], r["after_pairing"], r["suite"], when(r["created_at"]),
            r["actor"]] for r in rows])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="attribute")

    @root.command("bisect")
    def bisect_cmd(
        prompt: Annotated[str, typer.Argument(help="The prompt whose history is walked.")],
        good: Annotated[str, typer.Option("--good", help="A pairing (or NAME@LABEL) that behaved.")],
        bad: Annotated[str, typer.Option("--bad", help="A pairing (or NAME@LABEL) that did not.")],
        suite: SuiteOpt,
        repeats: RepeatsOpt = None,
        jobs: JobsOpt = None,
        no_cache: NoCacheOpt = False,
        markdown: MarkdownOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The first prompt or model version at which each failing case changed, in O(log n) replays."""
        from promptver.evals.attribution import bisect
        from promptver.evals.suites import load_suite

        local_only("bisect")
        spec = load_suite(suite)
        check_output_paths(markdown)
        with registry() as reg:
            progress, announce, close = run_progress(f"bisect {prompt}")
            try:
                report = bisect(reg, prompt, good, bad, spec, repeats=repeats, jobs=jobs, use_cache=not no_cache,
                                progress=progress, announce=announce)
            finally:
                close()
        _emit(report, as_json, markdown)
