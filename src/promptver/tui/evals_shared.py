"""Pieces the evals and attribution screens share: the default suite file, the local-registry
check, and the progress line of a run made in a thread worker (fed through posted ``UiCall``s)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from promptver.tui.app import UiCall
from promptver.tui.text import literal

LOCAL_ONLY = "evals need the local registry (unset PROMPTVER_URL to open the database itself)"


def is_local(registry: Any) -> bool:
    """A ``Registry`` over the database (evals write runs to it); a ``RemoteRegistry`` has no ``db``."""
    return hasattr(registry, "db") and hasattr(registry, "reader")


def default_suite(folder: Path | None = None) -> str:
    """The first ``evals/*.yaml`` (or ``.yml``) under the current directory, relative; "" if none."""
    base = Path.cwd() if folder is None else folder
    found = sorted([*(base / "evals").glob("*.yaml"), *(base / "evals").glob("*.yml")])
    return f"evals/{found[0].name}" if found else ""


class RunProgress(Horizontal):
    """A progress bar and a status line for one run at a time; hidden until a run starts."""

    DEFAULT_CSS = """
    RunProgress { height: 1; display: none; }
    RunProgress.-shown { display: block; }
    RunProgress ProgressBar { width: 38; }
    RunProgress #run-status { width: 1fr; height: 1; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=None, show_eta=False, id="run-bar")
        yield Static("", id="run-status")

    @property
    def bar(self) -> ProgressBar:
        return self.query_one("#run-bar", ProgressBar)

    def begin(self, text: str) -> None:
        self.add_class("-shown")
        self.bar.update(total=None, progress=0)
        self.say(text)

    def say(self, text: str, style: str = "") -> None:
        self.query_one("#run-status", Static).update(literal(text, style))

    def announced(self, message: str) -> None:
        total = getattr(message, "calls", None)  # evals.run.Announcement
        if total is not None:
            self.bar.update(total=total, progress=0)
        self.say(message)

    def advance(self) -> None:
        self.bar.advance(1)

    def status(self) -> Text:
        return self.query_one("#run-status", Static).content  # type: ignore[return-value]


def thread_hooks(app: Any, alive: Callable[[], bool], advance: Callable[[], None],
                 announced: Callable[[str], None]) -> tuple[Callable[[Any], None], Callable[[str], None]]:
    """``progress`` and ``announce`` callbacks for ``evals.run.start`` running in a thread worker:
    each hands its update to the UI thread. Once the screen is gone (or the app closed) they do
    nothing, so leaving the screen never stops or breaks the run."""

    def hand(update: Callable[..., None], *args: Any) -> None:
        # posted, not awaited (call_from_thread would hold the run's event loop for a round trip
        # through the UI on every finished call)
        app.post_message(UiCall(lambda: update(*args) if alive() else None))

    return (lambda outcome: hand(advance)), (lambda message: hand(announced, message))
