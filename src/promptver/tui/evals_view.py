"""The evals screen: eval runs (newest first), the selected run's matrix (prompt versions x model
versions, regressed cells in red), the cases of a cell, one result in full; and a new run of a
suite file, made in a thread worker with a progress bar. Evals work on the local registry only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static

from promptver.evals.outputs import CaseRow
from promptver.tui.app import RegistryScreen
from promptver.tui.evals_data import Matrix, fetch_cases, fetch_matrix, fetch_result, fetch_runs
from promptver.tui.evals_shared import LOCAL_ONLY, RunProgress, default_suite, is_local, thread_hooks
from promptver.tui.text import literal, one_line, when

REGRESSED = "bold red"
INCOMPLETE = "yellow"
STATE_STYLE = {"completed": "green", "interrupted": "yellow", "failed": "red", "running": "cyan", "resumed": "cyan"}


class SuiteModal(ModalScreen["str | None"]):
    """Asks for a suite file path (None: cancelled)."""

    DEFAULT_CSS = """
    SuiteModal { align: center middle; }
    SuiteModal > Vertical { width: 70; max-width: 95%; height: auto; border: thick $accent;
                            background: $surface; padding: 0 1; }
    SuiteModal #suite-title { text-style: bold; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Run an eval suite (enter starts, escape cancels)"), id="suite-title")
            yield Input(value=self.default, placeholder="evals/NAME.yaml", id="suite-path")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#suite-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if path:
            self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class EvalsScreen(RegistryScreen, Screen[None]):
    DEFAULT_CSS = """
    EvalsScreen #runs-title, EvalsScreen #matrix-title { height: 1; text-style: bold; padding: 0 1; }
    EvalsScreen #runs { height: 8; }
    EvalsScreen #matrix { height: 1fr; }
    EvalsScreen #matrix-note { height: 2; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("n", "new_run", "New run"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[dict[str, Any]] = []
        self.wanted: str | None = None       # the run whose matrix was asked for last
        self.matrix: Matrix | None = None    # the matrix on screen
        self.running = False
        self._select_after_load: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Eval runs", id="runs-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="matrix-title")
        yield DataTable(id="matrix", cursor_type="cell")
        yield Static("", id="matrix-note")
        yield RunProgress(id="progress")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_column("id", width=16)
        table.add_column("suite", width=24)
        table.add_column("state", width=11)
        table.add_column("time", width=11)
        table.focus()
        if not is_local(self.registry):
            self.query_one("#matrix-title", Static).update(Text(LOCAL_ONLY, style="yellow"))
            return
        self.load_runs()

    # -- runs -----------------------------------------------------------------------------------
    def load_runs(self, select: str | None = None) -> None:
        self._select_after_load = select
        registry = self.registry
        self.app.background(lambda: fetch_runs(registry), self._show_runs, group="eval-runs")

    def _show_runs(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        ids = [r["id"] for r in runs]
        wanted = self._select_after_load if self._select_after_load in ids else (
            self.wanted if self.wanted in ids else (ids[0] if ids else None))
        self._select_after_load = None
        table = self.query_one("#runs", DataTable)
        with self.prevent(DataTable.RowHighlighted):
            table.clear()
            for r in runs:
                state = r.get("state") or "?"
                table.add_row(literal(r["id"]), literal(r["suite"]), Text(state, style=STATE_STYLE.get(state, "")),
                              Text(when(r["created_at"], short=True)), key=r["id"])
            if wanted is not None:
                table.move_cursor(row=ids.index(wanted))
        self.query_one("#runs-title", Static).update(Text(f"Eval runs ({len(runs)})"))
        if wanted is None:
            self.wanted = None
            self._show_matrix(None)
            self.query_one("#matrix-title", Static).update(Text("no eval runs yet: n starts one"))
        else:
            self.load_matrix(wanted)

    def selected_run(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    # -- the matrix -----------------------------------------------------------------------------
    def load_matrix(self, run_id: str) -> None:
        self.wanted = run_id
        registry = self.registry
        self.app.background(lambda: fetch_matrix(registry, run_id), lambda got: self._loaded_matrix(run_id, got),
                   group="eval-matrix")

    def _loaded_matrix(self, run_id: str, matrix: Matrix) -> None:
        if run_id == self.wanted:  # else the user has moved on
            self._show_matrix(matrix)

    def _show_matrix(self, matrix: Matrix | None) -> None:
        self.matrix = matrix
        table = self.query_one("#matrix", DataTable)
        table.clear(columns=True)
        note = self.query_one("#matrix-note", Static)
        if matrix is None:
            note.update("")
            return
        run, report = matrix.run, matrix.report
        title = Text()
        title.append_text(literal(f"{run['suite']} {run['id']}"))
        tokens = report.tokens()
        title.append(f"  {run.get('state')}  {report.total}/{report.expected_results} results, {report.errors} errors"
                     + (f", {report.missing} missing" if report.missing else "")
                     + (", tokens unknown" if tokens is None else
                        f", tokens {tokens['prompt']} in / {tokens['completion']} out"))
        if report.incomplete:
            title.append("  incomplete", style=INCOMPLETE)
        self.query_one("#matrix-title", Static).update(title)
        table.add_column("prompt \\ model", key="prompt")
        for model in matrix.models:
            table.add_column(literal(model), key=model)
        for prompt in matrix.prompts:
            row: list[Text] = [literal(prompt)]
            for model in matrix.models:
                cell = matrix.cells.get((prompt, model))
                row.append(Text("-") if cell is None else
                           Text(cell.text(), style=REGRESSED if cell.regressed else
                                INCOMPLETE if cell.incomplete else ""))
            table.add_row(*row, key=prompt)
        if matrix.models:
            table.move_cursor(row=0, column=1)
        self._show_note()

    def current_cell(self) -> Any:
        table = self.query_one("#matrix", DataTable)
        if self.matrix is None or not table.row_count:
            return None
        row, column = table.cursor_coordinate
        if column < 1 or row >= len(self.matrix.prompts) or column > len(self.matrix.models):
            return None
        return self.matrix.cells.get((self.matrix.prompts[row], self.matrix.models[column - 1]))

    def _show_note(self) -> None:
        note = Text()
        matrix = self.matrix
        if matrix is not None:
            regressed = sum(1 for c in matrix.cells.values() if c.regressed)
            note.append(f"min pass rate {matrix.min_pass_rate:.0%}; ")
            note.append(f"{regressed} regressed cell(s) in red" if regressed else "no regressed cells",
                        style=REGRESSED if regressed else "")
            cell = self.current_cell()
            if cell is not None:
                note.append("\n")
                note.append_text(literal(f"{cell.cell.prompt} x {cell.cell.model}"))
                why = cell.why()
                note.append(f": {why}" if why else ": enter shows the cases",
                            style=REGRESSED if cell.regressed else INCOMPLETE if why else "")
                note.append(f"  ({cell.facts()})")
        self.query_one("#matrix-note", Static).update(note)

    # -- events ---------------------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs":
            run_id = self.selected_run()
            if run_id is not None and run_id != self.wanted:
                self.load_matrix(run_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "runs":
            self.query_one("#matrix", DataTable).focus()

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        if event.data_table.id == "matrix":
            self._show_note()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        if event.data_table.id != "matrix" or self.matrix is None:
            return
        cell = self.current_cell()
        if cell is None:
            self.notify("choose a model column", severity="warning")
            return
        self.app.push_screen(CasesScreen(self.matrix.run["id"], cell))

    # -- actions --------------------------------------------------------------------------------
    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        if is_local(self.registry):
            self.load_runs(self.wanted)

    def action_new_run(self) -> None:
        if not is_local(self.registry):
            self.notify(LOCAL_ONLY, severity="warning")
            return
        if self.running:
            self.notify("a run is in progress", severity="warning")
            return
        self.app.push_screen(SuiteModal(default_suite()), self._start_run)

    def _alive(self) -> bool:
        return self in self.app.screen_stack

    def _start_run(self, path: str | None) -> None:
        if not path:
            return
        from promptver.evals.run import start
        from promptver.evals.suites import load_suite

        progress_line = self.query_one("#progress", RunProgress)
        progress_line.begin(f"starting {path}...")
        self.running = True
        registry = self.registry
        progress, announce = thread_hooks(self.app, self._alive, progress_line.advance, progress_line.announced)

        def call() -> Any:
            suite = load_suite(Path(path))
            return start(registry, suite, progress=progress, announce=announce)

        self.app.background(call, self._run_done, group="eval-start", failed=self._run_failed)

    def _run_done(self, outcome: Any) -> None:
        self.running = False
        text = f"run {outcome.run_id} {outcome.state}: {outcome.tally.calls} calls"
        if not self._alive():
            self.app.notify(text)
            return
        self.query_one("#progress", RunProgress).say(text, "green" if outcome.state == "completed" else "yellow")
        self.load_runs(select=outcome.run_id)
        self.query_one("#runs", DataTable).focus()

    def _run_failed(self, exc: BaseException) -> None:
        self.running = False
        if self._alive():
            self.query_one("#progress", RunProgress).say("the run did not finish", "red")
        self.app.show_error(exc)  # type: ignore[attr-defined]


class CasesScreen(Screen[None]):
    """The results of one cell: case, passed, the output's first line, the error; enter: one in full."""

    DEFAULT_CSS = """
    CasesScreen #cases-title { height: 1; text-style: bold; padding: 0 1; }
    CasesScreen #cases { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "close", "Back")]

    def __init__(self, run_id: str, cell: Any) -> None:
        super().__init__()
        self.run_id = run_id
        self.cell = cell
        self.rows: list[CaseRow] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="cases-title")
        yield DataTable(id="cases", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        title = literal(f"{self.cell.cell.prompt} x {self.cell.cell.model}: ")
        title.append(self.cell.text(), style=REGRESSED if self.cell.regressed else
                     INCOMPLETE if self.cell.incomplete else "")
        title.append(f"  {self.cell.facts()}")
        self.query_one("#cases-title", Static).update(title)
        table = self.query_one("#cases", DataTable)
        table.add_column("case", width=18)
        table.add_column("passed", width=7)
        table.add_column("output", width=30)
        table.add_column("error")
        table.add_column("tokens")
        table.focus()
        registry = self.app.registry  # type: ignore[attr-defined]
        run_id, pairing = self.run_id, self.cell.cell.pairing_id
        self.app.background(lambda: fetch_cases(registry, run_id, pairing), self._show, group="eval-cases")

    def _show(self, rows: list[CaseRow]) -> None:
        self.rows = rows
        repeats = any(r.repeat for r in rows)
        table = self.query_one("#cases", DataTable)
        table.clear()
        for i, r in enumerate(rows):
            name = r.case_id + (f"#{r.repeat}" if repeats else "")
            passed = (Text("skipped", style="yellow") if r.skipped else Text("error", style="yellow")
                      if r.passed is None else Text("yes", style="green") if r.passed else Text("no", style=REGRESSED))
            tokens = ("" if r.prompt_tokens is None and r.completion_tokens is None else
                      f"{r.prompt_tokens if r.prompt_tokens is not None else '?'}/"
                      f"{r.completion_tokens if r.completion_tokens is not None else '?'}")
            table.add_row(literal(name), passed, one_line(r.output or "", 30), one_line(r.error or "", 40),
                          Text(tokens), key=str(i))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = event.cursor_row
        if 0 <= row < len(self.rows) and not self.rows[row].skipped:
            self.app.push_screen(ResultScreen(self.run_id, self.cell, self.rows[row]))

    def action_close(self) -> None:
        self.dismiss(None)


class ResultScreen(Screen[None]):
    """One result: the whole output (literally), the error, each scorer's value and detail."""

    DEFAULT_CSS = """
    ResultScreen #result-title { height: 1; text-style: bold; padding: 0 1; }
    ResultScreen #result-box { height: 1fr; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "close", "Back")]

    def __init__(self, run_id: str, cell: Any, row: CaseRow) -> None:
        super().__init__()
        self.run_id, self.cell, self.row = run_id, cell, row

    def compose(self) -> ComposeResult:
        title = f"{self.row.case_id}  {self.cell.cell.prompt} x {self.cell.cell.model}"
        yield Static(literal(title), id="result-title")
        with VerticalScroll(id="result-box"):
            yield Static("", id="result-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#result-box", VerticalScroll).focus()
        registry, run_id, row = self.app.registry, self.run_id, self.row  # type: ignore[attr-defined]
        self.app.background(lambda: fetch_result(registry, run_id, row), self._show, group="eval-result")

    def _show(self, got: dict[str, Any]) -> None:
        self.query_one("#result-text", Static).update(result_text(got))

    def action_close(self) -> None:
        self.dismiss(None)


def result_text(got: dict[str, Any]) -> Text:
    """A stored result as text: passed, the scores, the error, then the whole output."""
    out = Text()
    result = got.get("result")
    if result is None:
        out.append("no result stored for this case (the run did not reach it)", style="yellow")
        return out
    failed = [s for s in got["scores"] if not s["passed"]]
    verdict = ("error" if result["error"] else "failed" if failed else "passed")
    out.append(verdict, style="yellow" if result["error"] else REGRESSED if failed else "green")
    facts = []
    if result.get("latency_ms") is not None:
        facts.append(f"{result['latency_ms']:.0f} ms")
    if result.get("prompt_tokens") is not None or result.get("completion_tokens") is not None:
        facts.append(f"tokens {result.get('prompt_tokens')} in / {result.get('completion_tokens')} out")
    if not result.get("cached"):  # a cached call cost this run nothing ("cached" below)
        if result.get("cost_usd") is not None:
            facts.append(f"${result['cost_usd']:.6f}")
        elif not result.get("error"):
            facts.append("cost unknown")
    if result.get("cached"):
        facts.append("cached")
    out.append(("  " + ", ".join(facts)) if facts else "")
    out.append("\n\nscores\n", style="bold")
    if not got["scores"]:
        out.append("  (none)\n", style="dim")
    for s in got["scores"]:
        out.append("  ")
        out.append_text(literal(f"{s['scorer']}: {float(s['value']):.3f} "))
        out.append("pass" if s["passed"] else "FAIL", style="green" if s["passed"] else REGRESSED)
        if s.get("detail"):
            out.append_text(literal(f"  {s['detail']}"))
        out.append("\n")
    if result["error"]:
        out.append("\nerror\n", style="bold")
        out.append_text(literal(f"{result.get('error_kind') or ''} {result['error']}".strip()))
        out.append("\n")
    out.append("\noutput\n", style="bold")
    out.append_text(literal(result["output"] if result["output"] is not None else "(no output)"))
    return out
