"""Modal screens: an error (every failure ends here, never a crash), the changelog prompt on save, a
yes/no question, and the model version picker (pairing a prompt version)."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from promptver.core.diff import VersionDiff
from promptver.core.types import ModelVersion
from promptver.tui.text import literal, one_line


class ErrorModal(ModalScreen[None]):
    """Shows one error message (literally); enter or escape closes it."""

    DEFAULT_CSS = """
    ErrorModal { align: center middle; }
    ErrorModal > Vertical { width: 70; max-width: 95%; height: auto; max-height: 80%;
                            border: thick $error; background: $surface; padding: 0 1; }
    ErrorModal #error-title { text-style: bold; color: $error; }
    """
    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, message: str, title: str = "Error") -> None:
        super().__init__()
        self.message = message
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(literal(self.title_text), id="error-title")
            with VerticalScroll():
                yield Static(literal(self.message), id="error-message")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)


def diff_text(diff: VersionDiff) -> Text:
    """The unified diff of template text and the structured field changes, coloured, literally."""
    out = Text()
    for line in diff.text:
        style = ("green" if line.startswith("+") and not line.startswith("+++") else
                 "red" if line.startswith("-") and not line.startswith("---") else
                 "cyan" if line.startswith("@@") else "")
        out.append_text(literal(line, style))
        out.append("\n")
    if diff.fields:
        out.append("\nfields\n", style="bold")
        for change in diff.fields:
            out.append_text(literal(f"  {change.change:8} {change.path}: {change.old!r} -> {change.new!r}"))
            out.append("\n")
    if diff.identical:
        out.append("no changes\n", style="dim")
    return out


class ChangelogModal(ModalScreen["str | None"]):
    """Shows the diff a save would store and asks for its changelog message (None: cancelled)."""

    DEFAULT_CSS = """
    ChangelogModal { align: center middle; }
    ChangelogModal > Vertical { width: 90%; height: 90%; border: thick $accent; background: $surface; }
    ChangelogModal #changelog-diff { height: 1fr; }
    ChangelogModal #changelog-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, diff: VersionDiff) -> None:
        super().__init__()
        self.diff = diff

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(literal(f"Save {self.diff.old} -> new version"), id="changelog-title")
            with VerticalScroll(id="changelog-diff"):
                yield Static(diff_text(self.diff), id="changelog-diff-text")
            yield Static("", id="changelog-error")
            yield Input(placeholder="changelog message (enter saves, escape cancels)", id="changelog-input")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#changelog-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        message = event.value.strip()
        if not message:
            self.query_one("#changelog-error", Static).update(Text("a changelog message is required"))
            return
        self.dismiss(message)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool]):
    """A yes/no question: y (or enter) answers True, n (or escape) False."""

    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical { width: 60; max-width: 95%; height: auto; border: thick $warning;
                              background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("y,enter", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(literal(self.question), id="confirm-question")
        yield Footer()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def params_text(params: dict[str, Any]) -> str:
    """A model version's parameters on one line: ``temperature=0.2 max_tokens=300``."""
    return " ".join(f"{key}={json.dumps(value, sort_keys=True)}" for key, value in sorted(params.items())) or "-"


class ModelPickerModal(ModalScreen["ModelVersion | None"]):
    """Picks a model version to pair ``prompt_ref`` with: every model series' versions (newest first),
    with model id and parameters. Enter picks the highlighted one, escape cancels (None).

    The versions come down from the caller (it read them in a worker); ``paired`` names the model
    versions the prompt version is paired with already (marked, still pickable)."""

    DEFAULT_CSS = """
    ModelPickerModal { align: center middle; }
    ModelPickerModal > Vertical { width: 95%; height: 90%; border: thick $accent; background: $surface; }
    ModelPickerModal #picker-title { height: 1; text-style: bold; padding: 0 1; }
    ModelPickerModal #picker-models { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt_ref: str, versions: list[ModelVersion], paired: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.prompt_ref = prompt_ref
        self.versions = versions
        self.paired = paired

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(literal(f"pair {self.prompt_ref} with a model version (enter picks, escape cancels)"),
                         id="picker-title")
            yield DataTable(id="picker-models", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#picker-models", DataTable)
        table.add_column("model version", width=18)
        table.add_column("model id", width=26)
        table.add_column("params", width=24)
        table.add_column("")
        for version in self.versions:
            mark = Text("paired", style="green") if version.ref in self.paired else Text("")
            table.add_row(literal(version.ref), literal(version.model), one_line(params_text(version.params), 40),
                          mark, key=version.ref)
        if not self.versions:
            self.query_one("#picker-title", Static).update(
                Text("there are no model versions yet: add one (promptver model add)", style="yellow"))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = event.cursor_row
        if 0 <= row < len(self.versions):
            self.dismiss(self.versions[row])

    def action_cancel(self) -> None:
        self.dismiss(None)
