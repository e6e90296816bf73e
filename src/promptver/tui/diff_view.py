"""The diff screen: two versions of one prompt (or model) side by side in time: the template text
diff and the structured field changes (core/diff.py)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Select, Static
from textual.widgets.select import NoSelection

from promptver.core.diff import VersionDiff, diff_models, diff_prompts
from promptver.tui.modals import diff_text
from promptver.tui.text import literal


class DiffScreen(Screen[None]):
    """``versions`` are the loaded versions of one series; ``old`` and ``new`` version numbers."""

    DEFAULT_CSS = """
    DiffScreen #pickers { height: 3; }
    DiffScreen #pickers Select { width: 1fr; }
    DiffScreen #diff-title { height: 1; text-style: bold; padding: 0 1; }
    DiffScreen #diff-box { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "close", "Back"), Binding("s", "swap", "Swap")]

    def __init__(self, kind: str, versions: list[Any], old: int, new: int) -> None:
        super().__init__()
        self.kind = kind
        self.by_number = {v.version: v for v in versions}
        self.old, self.new = old, new

    def compose(self) -> ComposeResult:
        options = [(f"v{n}", n) for n in sorted(self.by_number, reverse=True)]
        with Horizontal(id="pickers"):
            yield Select(options, value=self.old, allow_blank=False, id="old")
            yield Select(options, value=self.new, allow_blank=False, id="new")
        yield Static("", id="diff-title")
        with VerticalScroll(id="diff-box"):
            yield Static("", id="diff-text")
        yield Footer()

    def on_mount(self) -> None:
        self.show()

    def diff(self) -> VersionDiff:
        old, new = self.by_number[self.old], self.by_number[self.new]
        return diff_prompts(old, new) if self.kind == "prompt" else diff_models(old, new)

    def show(self) -> None:
        result = self.diff()
        self.query_one("#diff-title", Static).update(literal(f"{result.old} -> {result.new}"))
        self.query_one("#diff-text", Static).update(diff_text(result))

    def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, NoSelection) or event.value is None:
            return
        if event.select.id == "old":
            self.old = int(event.value)  # type: ignore[arg-type]
        elif event.select.id == "new":
            self.new = int(event.value)  # type: ignore[arg-type]
        self.show()

    def action_swap(self) -> None:
        self.old, self.new = self.new, self.old
        with self.prevent(Select.Changed):
            self.query_one("#old", Select).value = self.old
            self.query_one("#new", Select).value = self.new
        self.show()

    def action_close(self) -> None:
        self.dismiss(None)
