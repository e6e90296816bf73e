"""The help screen: every key of the screen it was opened from, and the keys that work everywhere."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

KEY_NAMES = {"slash": "/", "question_mark": "?", "escape": "esc"}
EVERYWHERE = [("?", "this help"), ("escape", "back / close"), ("ctrl+q", "quit"),
              ("tab / shift+tab", "next / previous field"), ("up, down, enter", "move, open")]


def key_rows(screen: Any) -> list[tuple[str, str]]:
    """(keys, what they do) for the bindings ``screen``'s class declares, shown in its footer or
    not (Textual's own focus and copy keys, and a widget's cursor keys, are "everywhere")."""
    rows: dict[str, list[str]] = {}
    described: dict[str, str] = {}
    for declared in getattr(type(screen), "BINDINGS", []):
        binding = declared if isinstance(declared, Binding) else Binding(*declared)
        if binding.action in ("app.quit", "quit", "help", "app.help"):
            continue
        keys = [k.strip() for k in binding.key.split(",")]
        rows.setdefault(binding.action, []).extend(binding.key_display or KEY_NAMES.get(k, k) for k in keys)
        described[binding.action] = binding.description or binding.action
    return [(", ".join(keys), described[action]) for action, keys in rows.items()]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 64; max-width: 98%; height: auto; max-height: 90%;
                            border: thick $accent; background: $surface; padding: 0 1; }
    HelpScreen #help-title { text-style: bold; }
    """
    BINDINGS = [Binding("escape,enter,question_mark,q", "close", "Close")]

    def __init__(self, screen_name: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.screen_name, self.rows = screen_name, rows

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"{self.screen_name}\n", style="bold")
        for keys, what in self.rows:
            text.append(f"  {keys:<16}", style="bold cyan")
            text.append(f" {what}\n")
        text.append("\neverywhere\n", style="bold")
        for keys, what in EVERYWHERE:
            text.append(f"  {keys:<16}", style="bold cyan")
            text.append(f" {what}\n")
        text.append("\nPrompt text is shown as typed: markup and escape sequences are never interpreted.",
                    style="dim")
        with Vertical():
            yield Static("promptver tui: keys", id="help-title")
            with VerticalScroll():
                yield Static(text, id="help-text")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
