"""The Textual application: holds the registry, runs its calls off the UI thread, shows errors."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.worker import get_current_worker

from promptver.errors import PromptverError
from promptver.tui.modals import ErrorModal


def error_text(exc: BaseException) -> str:
    """A promptver error's own message; anything else named as the bug it is."""
    if isinstance(exc, PromptverError):
        return exc.message
    return f"internal error: {type(exc).__name__}: {exc}"


class UiCall(Message):
    """A function to run on the UI thread, posted from a worker thread. ``post_message`` is
    thread-safe, does not wait, and keeps order: a run's progress, then its result."""

    def __init__(self, fn: Callable[[], None]) -> None:
        super().__init__()
        self.fn = fn


class RegistryScreen:
    """Mixed into the screens: ``self.registry`` is the app's open registry."""

    app: Any

    @property
    def registry(self) -> Any:
        return self.app.registry


class PromptverApp(App[None]):
    """Browse, edit and diff the prompt and model versions of one registry.

    ``registry`` is an open ``Registry`` (or ``RemoteRegistry``); the caller closes it.
    """

    TITLE = "promptver"
    ENABLE_COMMAND_PALETTE = False  # every command has a key; the help screen lists them
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True),
                Binding("question_mark,f1", "help", "Help")]

    def __init__(self, registry: Any, *, freeze_gc: bool = False) -> None:
        """``freeze_gc``: the process is this app's (``run``), not a test's or a host's."""
        super().__init__()
        self.registry = registry
        self.freeze_gc = freeze_gc

    def on_mount(self) -> None:
        from promptver.tui.browse import BrowseScreen

        self.push_screen(BrowseScreen())
        if self.freeze_gc:
            # what is alive once the app is up (modules, Textual's machinery) lives as long as the
            # process: move it out of the garbage collector's sight, or every full collection walks
            # it again (one took 112 ms, the slowest prompt switch of bench_tui.py)
            self.call_after_refresh(gc.freeze)

    def action_help(self) -> None:
        from promptver.tui.help import HelpScreen, key_rows

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        name = type(screen).__name__.removesuffix("Screen").removesuffix("Modal").lower() or "screen"
        self.push_screen(HelpScreen(name, key_rows(screen)))

    async def run_action(self, action: Any, default_namespace: Any = None) -> bool:
        """Every key binding runs here: an error in an action goes to the modal instead of ending
        the app (Textual stops a widget's message loop on an unhandled error)."""
        try:
            return await super().run_action(action, default_namespace)
        except Exception as exc:
            if os.environ.get("PROMPTVER_DEBUG"):
                raise
            self.show_error(exc)
            return True

    def on_ui_call(self, message: UiCall) -> None:
        """A function a worker thread posted: run it here."""
        try:
            message.fn()
        except Exception as exc:
            self.show_error(exc)

    # -- errors ---------------------------------------------------------------------------------
    def show_error(self, exc: BaseException | str, title: str = "Error") -> None:
        self.push_screen(ErrorModal(exc if isinstance(exc, str) else error_text(exc), title))

    # -- registry calls off the UI thread -------------------------------------------------------
    def background(self, call: Callable[[], Any], done: Callable[[Any], None], *, group: str = "registry",
                   failed: Callable[[BaseException], None] | None = None) -> None:
        """Run ``call()`` in a thread worker; then ``done(result)`` on the UI thread, or on an error
        ``failed(exc)`` (default: the error modal). The newest call of a group wins."""

        def work() -> None:
            try:
                outcome: tuple[Callable[..., None], tuple[Any, ...]] = (self._finish, (done, call()))
            except Exception as exc:  # shown, never raised: the app must not crash
                outcome = (self._finish_error, (exc, failed))
            if get_current_worker().is_cancelled:  # a newer call of the group took over
                return
            handler, args = outcome
            self.post_message(UiCall(lambda: handler(*args)))  # after anything the call posted

        self.run_worker(work, thread=True, group=group, exclusive=True, exit_on_error=False, name=group)

    def _finish(self, done: Callable[[Any], None], result: Any) -> None:
        try:
            done(result)
        except Exception as exc:
            self.show_error(exc)

    def _finish_error(self, exc: BaseException, failed: Callable[[BaseException], None] | None) -> None:
        (failed or self.show_error)(exc)


def run(registry: Any) -> None:
    """Run the app in the terminal over ``registry`` until the user quits."""
    PromptverApp(registry, freeze_gc=True).run()
