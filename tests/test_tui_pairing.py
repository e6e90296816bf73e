"""`promptver tui` pairs: a model version picked in a modal (every model series' versions, with
model id and parameters) is paired with a prompt version from the browse screen (`p`), or released
straight from the release screen (ctrl+p, or the pairing selector's last entry): the pairing is made
on the way, then the same compare-and-set label move. Nothing is written before the release; a
refused move writes no label event and is shown in the error modal."""

from __future__ import annotations

import pytest
from conftest import prompt_spec

pytest.importorskip("textual")

from test_tui import cells, drive, plain, screen_text, select_series, settle  # noqa: E402
from test_tui_release import PROMPT, history, open_release, released, type_reason  # noqa: E402,F401
from textual.widgets import DataTable, Select, Static  # noqa: E402

from promptver.services import access  # noqa: E402
from promptver.services.access import Principal  # noqa: E402
from promptver.services.registry import Registry  # noqa: E402
from promptver.tui.app import PromptverApp  # noqa: E402
from promptver.tui.browse import BrowseScreen  # noqa: E402
from promptver.tui.modals import ErrorModal, ModelPickerModal  # noqa: E402
from promptver.tui.release import PAIR  # noqa: E402


def pairs(reg):
    """(prompt ref, model ref) of every pairing of support-reply."""
    return sorted((p.prompt.ref, p.model.ref) for p in reg.pairings(PROMPT))


async def pick(pilot, ref):
    """In the open model picker: highlight ``ref`` and press enter."""
    modal = pilot.app.screen
    assert isinstance(modal, ModelPickerModal)
    table = modal.query_one("#picker-models", DataTable)
    table.move_cursor(row=[r[0] for r in cells(table)].index(ref))
    await pilot.press("enter")
    await settle(pilot)


def test_the_picker_lists_every_model_version_with_model_id_and_params(released):
    reg = released
    reg.add_model("judge-llm", "anthropic/claude-3-5-sonnet", params={"max_tokens": 50}, message="j")

    async def script(pilot):
        screen = await open_release(pilot, 1)
        await pilot.press("ctrl+p")
        await settle(pilot)
        modal = pilot.app.screen
        assert isinstance(modal, ModelPickerModal)
        rows = cells(modal.query_one("#picker-models", DataTable))
        assert [r[:3] for r in rows] == [
            ["judge-llm/1", "anthropic/claude-3-5-sonnet", "max_tokens=50"],
            ["support-llm/2", "openai/gpt-4o-2024-08-06", "temperature=0.7"],
            ["support-llm/1", "openai/gpt-4o-2024-08-06", "temperature=0.2"]]
        assert [r[3] for r in rows] == ["", "paired", ""]  # v1 is paired with support-llm/2 already
        assert "support-llm/2" in screen_text(pilot.app) and "temperature=0.7" in screen_text(pilot.app)
        await pilot.press("escape")  # cancelled: back to the pairing it showed
        await settle(pilot)
        assert pilot.app.screen is screen
        assert screen.query_one("#pairing", Select).value == released.ids["1+2"]
        assert screen.planned is None

    before = pairs(reg)
    drive(PromptverApp(reg), script)
    assert pairs(reg) == before


def test_release_straight_from_prompt_and_model_version_pairs_on_the_way(released):
    reg, ids = released, released.ids
    before = pairs(reg)

    async def script(pilot):
        screen = await open_release(pilot, 1)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pick(pilot, "support-llm/1")
        assert pilot.app.screen is screen
        chosen = screen.chosen_pairing()
        assert chosen is not None and screen.is_planned(chosen)
        assert (chosen.prompt.ref, chosen.model.ref) == ("support-reply/1", "support-llm/1")
        assert pairs(reg) == before  # picking writes nothing
        diff = plain(screen.query_one("#release-diff-text", Static))
        assert diff.startswith(f"new pairing support-reply/1 + support-llm/1 ({chosen.id}): stored when you release")
        assert "prompt support-reply/2 -> support-reply/1" in diff
        assert "model support-llm/1 -> support-llm/1" in diff  # production's model, unchanged
        assert f"no eval run has results for pairing {chosen.id}" in plain(screen.query_one("#eval", Static))
        await type_reason(pilot, screen, "v1 on llm/1")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, BrowseScreen)
        return chosen.id

    planned = {}

    async def run(pilot):
        planned["id"] = await script(pilot)

    drive(PromptverApp(reg), run)
    assert pairs(reg) == sorted([*before, ("support-reply/1", "support-llm/1")])
    made = next(p for p in reg.pairings(PROMPT) if (p.prompt.ref, p.model.ref) == ("support-reply/1", "support-llm/1"))
    assert made.id == planned["id"]  # the id shown before is the id stored
    assert history(reg) == [(1, ids["2+1"], "tester", "first release"), (2, made.id, "tester", "v1 on llm/1")]


def test_picking_a_paired_model_chooses_its_pairing_and_the_selector_entry_opens_the_picker(released):
    reg, ids = released, released.ids

    async def script(pilot):
        screen = await open_release(pilot, 2)
        screen.query_one("#pairing", Select).value = PAIR  # "pair with a model version…"
        await settle(pilot)
        await pick(pilot, "support-llm/2")
        assert screen.query_one("#pairing", Select).value == ids["2+2"]
        assert screen.planned is None
        await pilot.press("escape")
        await settle(pilot)

    before = pairs(reg)
    drive(PromptverApp(reg), script)
    assert pairs(reg) == before and len(history(reg)) == 1


def test_a_version_without_pairings_is_paired_and_released_to_a_new_production(reg):
    reg.push_prompt(prompt_spec(), message="first")
    reg.add_model("support-llm", "promptver/echo", params={"temperature": 0}, message="m1")

    async def script(pilot):
        screen = await open_release(pilot, 1)
        assert "has no pairings: pair it with a model first (ctrl+p" in plain(screen.query_one("#target", Static))
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pick(pilot, "support-llm/1")
        assert "the label 'production' is not set yet" in plain(screen.query_one("#release-diff-text", Static))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, BrowseScreen)
        rows = cells(pilot.app.screen.query_one("#versions", DataTable))
        assert rows[0][3] == "production->support-llm/1"

    drive(PromptverApp(reg), script)
    [pairing] = reg.pairings(PROMPT)
    assert (pairing.prompt.ref, pairing.model.ref) == ("support-reply/1", "support-llm/1")
    assert history(reg) == [(1, pairing.id, "tester", "")]


def test_a_refused_release_of_a_new_pairing_shows_the_gate_and_moves_nothing(released):
    reg = released
    reg.set_label_policy(PROMPT, "production", protected=True, require_suite="support")
    before = history(reg)

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pick(pilot, "support-llm/1")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        message = plain(app.screen.query_one("#error-message", Static))
        assert "requires a passing run of eval suite 'support'" in message
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen  # still open; the pairing is stored now and stays chosen
        chosen = screen.chosen_pairing()
        assert chosen is not None and chosen.model.ref == "support-llm/1" and not screen.is_planned(chosen)
        assert "new pairing" not in plain(screen.query_one("#release-diff-text", Static))

    drive(PromptverApp(reg), script)
    assert history(reg) == before  # no label event
    assert ("support-reply/1", "support-llm/1") in pairs(reg)


def test_an_editor_pairs_but_cannot_move_a_protected_label(released):
    reg = released
    access.add_user(reg, "ed", "editor")
    editor = Registry(reg.db, principal=Principal("ed", "editor"))
    before = history(reg)

    async def script(pilot):
        await open_release(pilot, 1)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pick(pilot, "support-llm/1")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ErrorModal)
        assert "label 'production' is protected: only releasers may move it (ed is editor)" in plain(
            pilot.app.screen.query_one("#error-message", Static))

    drive(PromptverApp(editor), script)
    assert history(reg) == before


def test_p_in_browse_pairs_the_highlighted_version(released):
    reg = released
    notes = []

    async def script(pilot):
        app = pilot.app
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        select_series(pilot, PROMPT)
        await settle(pilot)
        table = app.screen.query_one("#versions", DataTable)
        table.move_cursor(row=[r[0] for r in cells(table)].index("v1"))
        await pilot.press("p")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ModelPickerModal) and modal.prompt_ref == "support-reply/1"
        await pick(pilot, "support-llm/1")
        assert isinstance(app.screen, BrowseScreen)
        await pilot.press("p")
        await settle(pilot)
        await pick(pilot, "support-llm/1")  # the same two versions: the same pairing
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("escape")  # cancelled: nothing
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)

    before = pairs(reg)
    drive(PromptverApp(reg), script)
    made = next(p for p in reg.pairings(PROMPT) if (p.prompt.ref, p.model.ref) == ("support-reply/1", "support-llm/1"))
    assert pairs(reg) == sorted([*before, ("support-reply/1", "support-llm/1")])
    assert [n for n in notes if "paired" in n] == [
        f"paired: support-reply/1 + support-llm/1 ({made.id}); l releases it",
        f"already paired: support-reply/1 + support-llm/1 ({made.id}); l releases it"]


def test_a_conflict_while_pairing_on_the_way_is_shown_and_a_retry_moves_once(released):
    reg, ids = released, released.ids
    other = Registry(reg.db, principal=Principal("ann", "admin"))

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pick(pilot, "support-llm/1")
        other.move_label(PROMPT, "production", ids["2+2"], reason="ann's release")  # after the screen read it
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "was moved by ann" in plain(app.screen.query_one("#error-message", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert plain(screen.query_one("#target", Static)).startswith(
            f"production now: event #2 -> support-reply/2 + support-llm/2 ({ids['2+2']}) by ann")
        chosen = screen.chosen_pairing()
        assert chosen is not None and chosen.model.ref == "support-llm/1" and not screen.is_planned(chosen)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        return chosen.id

    made = {}

    async def run(pilot):
        made["id"] = await script(pilot)

    drive(PromptverApp(reg), run)
    assert history(reg) == [(1, ids["2+1"], "tester", "first release"), (2, ids["2+2"], "ann", "ann's release"),
                            (3, made["id"], "tester", "")]
