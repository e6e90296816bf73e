"""The attribution screen: stored attribution (and bisect) reports, newest first, the selected one
as `promptver attribute show` prints it; and a new attribution of ``NAME@LABEL`` between two
times, replayed in a thread worker with a progress bar. Works on the local registry only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static

from promptver.errors import InvalidValue, PromptverError
from promptver.tui.app import RegistryScreen
from promptver.tui.evals_shared import LOCAL_ONLY, RunProgress, default_suite, is_local, thread_hooks
from promptver.tui.text import literal, when

FIELDS = [("ref", "label ref", "NAME@LABEL"), ("start", "from", "ISO 8601, e.g. 2026-11-20T14:00:00Z"),
          ("end", "to", "ISO 8601 or now"), ("suite", "suite", "evals/NAME.yaml"), ("repeats", "repeats", "1")]


def fetch_reports(registry: Any, prompt: str | None) -> list[dict[str, Any]]:
    from promptver.storage.reader import ReportReader

    return ReportReader(registry.reader).list(prompt)


def sides_text(report: dict[str, Any]) -> str:
    """before -> after in few characters: only the side that changed when the other did not."""
    first, second = (report.get("before"), report.get("after")) if report.get("kind") != "bisect" else (
        report.get("good"), report.get("bad"))
    if not first or not second:
        return ""
    if first["prompt"] == second["prompt"]:
        return _step(first["model"], second["model"])
    if first["model"] == second["model"]:
        return _step(first["prompt"], second["prompt"])
    return f"{first['prompt']}+{first['model']} -> {second['prompt']}+{second['model']}"


def _step(old: str, new: str) -> str:
    """support-llm/1 -> 2 (one series), else old -> new."""
    name, _, version = new.rpartition("/")
    return f"{old} -> {version}" if name and old.rpartition("/")[0] == name else f"{old} -> {new}"


def report_text(report: dict[str, Any]) -> Text:
    """The stored report as `promptver attribute show` prints it, literally."""
    from promptver.evals.attribution import summary_lines

    return literal("\n".join(summary_lines(report)))


def form_defaults(registry: Any, prompt: str | None) -> dict[str, str]:
    """The form's defaults: ``PROMPT@production``; from just before that label's last move (what
    changed at the last release); to now; the first suite under evals/; 1 repeat."""
    start = ""
    if prompt:
        try:
            events = [e for e in registry.label_history(prompt, "production") if e.pairing_id]
        except PromptverError:  # the prompt is gone: no default, the form still opens
            events = []
        if len(events) >= 2:
            moved = max(events, key=lambda e: e.seq).created_at - timedelta(milliseconds=1)
            start = moved.isoformat().replace("+00:00", "Z")
    return {"ref": f"{prompt}@production" if prompt else "", "start": start, "end": "now",
            "suite": default_suite(), "repeats": "1"}


def run_attribution(registry: Any, form: dict[str, str], progress: Any = None, announce: Any = None) -> dict[str, Any]:
    """Parse the form, find the two pairings, replay and store the report (returned)."""
    from promptver.core.times import parse_user_time
    from promptver.evals.attribution import attribute, sides_from_label
    from promptver.evals.suites import load_suite

    ref = form["ref"].strip()
    if not ref:
        raise InvalidValue("give a label ref such as support-reply@production")
    if not form["start"].strip():
        raise InvalidValue("give the time it was fine (from), e.g. 2026-11-20T14:00:00Z")
    start, end = parse_user_time(form["start"])[0], parse_user_time(form["end"].strip() or "now")[0]
    text = form["repeats"].strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise InvalidValue(f"repeats must be a whole number from 1, not {text!r}")
    if not form["suite"].strip():
        raise InvalidValue("give the eval suite file whose test set is replayed, e.g. evals/support-reply.yaml")
    suite = load_suite(Path(form["suite"].strip()))
    sides = sides_from_label(registry, ref, start, end)
    return attribute(registry, sides, suite, repeats=int(text), progress=progress, announce=announce)


class AttributionModal(ModalScreen["dict[str, str] | None"]):
    """The inputs of a new attribution; enter moves to the next field, and on the last starts it."""

    DEFAULT_CSS = """
    AttributionModal { align: center middle; }
    AttributionModal > Vertical { width: 76; max-width: 98%; height: auto; border: thick $accent;
                                  background: $surface; padding: 0 1; }
    AttributionModal #form-title { text-style: bold; height: 1; }
    AttributionModal Horizontal { height: 3; }
    AttributionModal .field-label { width: 10; padding: 1 0 0 0; }
    AttributionModal Input { width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Start")]

    def __init__(self, defaults: dict[str, str]) -> None:
        super().__init__()
        self.defaults = defaults

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Attribute a change: enter goes to the next field, ctrl+s starts"), id="form-title")
            for key, label, hint in FIELDS:
                with Horizontal():
                    yield Static(Text(label), classes="field-label")
                    yield Input(value=self.defaults.get(key, ""), placeholder=hint, id=f"field-{key}")
        yield Footer()

    def on_mount(self) -> None:
        first = "start" if self.defaults.get("ref") and not self.defaults.get("start") else "ref"
        self.query_one(f"#field-{first}", Input).focus()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#field-{key}", Input).value for key, _, _ in FIELDS}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        keys = [key for key, _, _ in FIELDS]
        at = keys.index(str(event.input.id).removeprefix("field-"))
        if at + 1 < len(keys):
            self.query_one(f"#field-{keys[at + 1]}", Input).focus()
        else:
            self.action_submit()

    def action_submit(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


class AttributionScreen(RegistryScreen, Screen[None]):
    """Reports on ``prompt`` (all prompts when None)."""

    DEFAULT_CSS = """
    AttributionScreen #reports-title { height: 1; text-style: bold; padding: 0 1; }
    AttributionScreen #reports { height: 7; }
    AttributionScreen #report-box { height: 1fr; padding: 0 1; border-top: solid $primary; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("n", "new", "New attribution"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, prompt: str | None = None) -> None:
        super().__init__()
        self.prompt = prompt
        self.reports: list[dict[str, Any]] = []
        self.running = False
        self._select_after_load: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="reports-title")
        yield DataTable(id="reports", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="report-box"):
            yield Static("", id="report-text")
        yield RunProgress(id="progress")
        yield Footer()

    def on_mount(self) -> None:
        title = "Attribution reports" + (f": {self.prompt}" if self.prompt else " (all prompts)")
        self.query_one("#reports-title", Static).update(literal(title))
        table = self.query_one("#reports", DataTable)
        table.add_column("id", width=8)
        table.add_column("kind", width=11)
        table.add_column("prompt", width=14)
        table.add_column("before -> after", width=26)
        table.add_column("time", width=11)
        table.focus()
        if not is_local(self.registry):
            self.query_one("#report-text", Static).update(Text(LOCAL_ONLY, style="yellow"))
            return
        self.load_reports()

    def _alive(self) -> bool:
        return self in self.app.screen_stack

    # -- the list -------------------------------------------------------------------------------
    def load_reports(self, select: str | None = None) -> None:
        self._select_after_load = select
        registry, prompt = self.registry, self.prompt
        self.app.background(lambda: fetch_reports(registry, prompt), self._show_reports, group="attribution-reports")

    def _show_reports(self, reports: list[dict[str, Any]]) -> None:
        current = self.selected_report()
        self.reports = reports
        ids = [r["id"] for r in reports]
        wanted = next((i for i in (self._select_after_load, current and current["id"]) if i in ids),
                      ids[0] if ids else None)
        self._select_after_load = None
        table = self.query_one("#reports", DataTable)
        with self.prevent(DataTable.RowHighlighted):
            table.clear()
            for r in reports:
                table.add_row(literal(r["id"][:8]), literal(r["kind"]), literal(r["prompt"]),
                              literal(sides_text(r["report"])), Text(when(r["created_at"], short=True)), key=r["id"])
            if wanted is not None:
                table.move_cursor(row=ids.index(wanted))
        self._show_report()

    def selected_report(self) -> dict[str, Any] | None:
        table = self.query_one("#reports", DataTable)
        if not self.reports or table.cursor_row is None or not 0 <= table.cursor_row < len(self.reports):
            return None
        return self.reports[table.cursor_row]

    def _show_report(self) -> None:
        found = self.selected_report()
        text = (Text("no stored reports: n makes one", style="dim") if found is None else report_text(found["report"]))
        self.query_one("#report-text", Static).update(text)
        self.query_one("#report-box", VerticalScroll).scroll_home(animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "reports":
            self._show_report()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "reports":
            self.query_one("#report-box", VerticalScroll).focus()

    # -- a new report ---------------------------------------------------------------------------
    def action_new(self) -> None:
        if not is_local(self.registry):
            self.notify(LOCAL_ONLY, severity="warning")
            return
        if self.running:
            self.notify("an attribution is in progress", severity="warning")
            return
        registry, prompt = self.registry, self.prompt
        self.app.background(lambda: form_defaults(registry, prompt),
                   lambda defaults: self.app.push_screen(AttributionModal(defaults), self._start),
                   group="attribution-form")

    def _start(self, form: dict[str, str] | None) -> None:
        if form is None:
            return
        progress_line = self.query_one("#progress", RunProgress)
        progress_line.begin(f"attributing {form['ref'].strip()}...")
        self.running = True
        registry = self.registry
        progress, announce = thread_hooks(self.app, self._alive, progress_line.advance, progress_line.announced)
        self.app.background(lambda: run_attribution(registry, form, progress, announce), self._done,
                   group="attribution-run", failed=self._failed)

    def _done(self, report: dict[str, Any]) -> None:
        self.running = False
        incomplete = report.get("incomplete") or []
        text = f"report {report['id']} stored" + (f"; {len(incomplete)} case(s) not compared" if incomplete else "")
        if not self._alive():
            self.app.notify(text)
            return
        self.query_one("#progress", RunProgress).say(text, "yellow" if incomplete else "green")
        self.load_reports(select=report["id"])
        self.query_one("#reports", DataTable).focus()

    def _failed(self, exc: BaseException) -> None:
        self.running = False
        if self._alive():
            self.query_one("#progress", RunProgress).say("no report was made", "red")
        self.app.show_error(exc)  # type: ignore[attr-defined]

    # -- actions --------------------------------------------------------------------------------
    def action_reload(self) -> None:
        if is_local(self.registry):
            self.load_reports()

    def action_close(self) -> None:
        self.dismiss(None)
