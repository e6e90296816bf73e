"""Modal screens: an error (every failure ends here, never a crash) and the changelog prompt on save."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from promptver.core.diff import VersionDiff
from promptver.tui.text import literal


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
