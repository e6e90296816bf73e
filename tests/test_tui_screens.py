"""The TUI's help screen, errors that never end the app, and snapshots of the main screens at 80x24
(SVG files in tests/__snapshots__; after a deliberate change: `pytest tests/test_tui_screens.py
--snapshot-update`, then look at the new files before committing them)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import prompt_spec

pytest.importorskip("textual")

from test_tui import SIZE, drive, plain, screen_text, select_series, settle  # noqa: E402
from textual.widgets import Input  # noqa: E402

from promptver.templates.specs import PromptSpec  # noqa: E402
from promptver.tui.app import PromptverApp  # noqa: E402
from promptver.tui.browse import BrowseScreen  # noqa: E402
from promptver.tui.help import HelpScreen  # noqa: E402
from promptver.tui.modals import ErrorModal  # noqa: E402


@pytest.fixture
def fixed(sqlite_url, monkeypatch):
    """A registry written at fixed times (one minute apart), so that screenshots do not change."""
    from promptver.services.registry import Registry

    clock = itertools.count()
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def now():
        return start + timedelta(minutes=next(clock))

    monkeypatch.setattr("promptver.services.registry.now", now)
    monkeypatch.setattr("promptver.services.labels.now", now)
    reg = Registry.open(sqlite_url, actor="maria")
    reg.push_prompt(prompt_spec(), message="first draft")
    reg.push_prompt(prompt_spec(system="Be brief with customers of {{ company }}."), message="shorter answers")
    reg.push_prompt(PromptSpec("billing-reply", [{"role": "user", "content": "[bold]bill[/bold] \x1b[31m{{ x }}"}],
                               tags=["billing"]), message="billing [red]v1[/red]")
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0.2}, message="m1")
    pairing = reg.pair("support-reply/2", "support-llm/1").pairing
    reg.move_label("support-reply", "production", pairing.id)
    yield reg
    reg.close()


def test_help_lists_the_keys_of_the_screen_it_was_opened_from(fixed):
    async def script(pilot):
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(pilot.app.screen, HelpScreen)
        text = screen_text(pilot.app)
        for words in ("Filter", "Edit", "Diff", "Release", "Rollback", "Evals", "Attribution", "ctrl+q"):
            assert words in text, words
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, BrowseScreen)

    drive(PromptverApp(fixed), script)


def test_a_question_mark_typed_in_the_filter_is_text_not_help(fixed):
    async def script(pilot):
        await pilot.press("slash", "b", "question_mark")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, HelpScreen)
        assert pilot.app.screen.query_one("#filter", Input).value == "b?"

    drive(PromptverApp(fixed), script)


def test_an_error_in_an_action_is_a_modal_and_the_app_goes_on(fixed, monkeypatch):
    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(BrowseScreen, "action_reload", broken)

    async def script(pilot):
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ErrorModal)
        assert plain(pilot.app.screen.query_one("#error-message")) == "internal error: RuntimeError: boom"
        await pilot.press("escape")
        select_series(pilot, "support-reply")
        await pilot.press("e")  # still working
        await settle(pilot)
        assert type(pilot.app.screen).__name__ == "EditorScreen"

    drive(PromptverApp(fixed), script)


def _snap(snap_compare, reg, keys=(), before=None):
    async def run_before(pilot):
        await settle(pilot)
        if before:
            await before(pilot)
            await settle(pilot)

    return snap_compare(PromptverApp(reg), press=list(keys), terminal_size=SIZE, run_before=run_before)


def test_snapshot_browse(snap_compare, fixed):
    async def pick(pilot):
        select_series(pilot, "support-reply")

    assert _snap(snap_compare, fixed, before=pick)


def test_snapshot_browse_shows_markup_and_escapes_literally(snap_compare, fixed):
    async def pick(pilot):
        select_series(pilot, "billing-reply")

    assert _snap(snap_compare, fixed, before=pick)


def test_snapshot_editor(snap_compare, fixed):
    async def edit(pilot):
        select_series(pilot, "support-reply")
        await settle(pilot)
        await pilot.press("e")

    assert _snap(snap_compare, fixed, before=edit)


def test_snapshot_diff(snap_compare, fixed):
    async def diff(pilot):
        select_series(pilot, "support-reply")
        await settle(pilot)
        await pilot.press("d")

    assert _snap(snap_compare, fixed, before=diff)


def test_snapshot_help(snap_compare, fixed):
    assert _snap(snap_compare, fixed, keys=["question_mark"])


def test_the_preview_takes_the_variables_of_a_chosen_test_case(fixed):
    from textual.widgets import Select

    from promptver.services import datasets

    cases = [{"id": "late-order", "vars": {"company": "Acme [b]Corp[/b]", "question": "Where is order 42?"}},
             {"id": "no-vars", "vars": {}}]
    datasets.push(fixed, "support", cases, "a" * 64)

    async def script(pilot):
        select_series(pilot, "support-reply")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = pilot.app.screen
        picker = screen.query_one("#case", Select)
        assert [label for label, _ in picker._options[1:]] == ["support/1: late-order", "support/1: no-vars"]
        picker.value = "support/1: late-order"
        await settle(pilot)
        assert screen.query_one("#vars", Input).value == json.dumps(cases[0]["vars"])
        preview = plain(screen.query_one("#preview"))
        assert "Be brief with customers of Acme [b]Corp[/b]." in preview and "Where is order 42?" in preview

    drive(PromptverApp(fixed), script)


def test_leaving_the_editor_with_unsaved_edits_asks_first(fixed):
    from textual.widgets import TextArea

    from promptver.tui.editor import EditorScreen
    from promptver.tui.modals import ConfirmModal

    async def script(pilot):
        select_series(pilot, "support-reply")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = pilot.app.screen
        area = editor.query_one("#editor", TextArea)
        area.text = area.text.replace("Be brief", "Be very brief")
        await pilot.press("escape", "escape")  # out of the text area, then close: a question first
        await settle(pilot)
        assert isinstance(pilot.app.screen, ConfirmModal)
        await pilot.press("n")
        assert pilot.app.screen is editor and "Be very brief" in area.text  # kept
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(pilot.app.screen, BrowseScreen)

    drive(PromptverApp(fixed), script)
    assert len(fixed.log("prompt", "support-reply")) == 2  # nothing saved
