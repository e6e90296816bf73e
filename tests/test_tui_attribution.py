"""The TUI's attribution screen (`a`): stored reports shown as `attribute show` prints them, a new
attribution started from the screen (offline model `promptver/echo`), bad input in the modal."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("textual")

from test_tui import cells, drive, settle, until  # noqa: E402
from textual.widgets import DataTable, Input, Static  # noqa: E402

from promptver.services.registry import Registry  # noqa: E402
from promptver.storage.reader import ReportReader  # noqa: E402
from promptver.tui.app import PromptverApp  # noqa: E402
from promptver.tui.attribution_view import AttributionModal, AttributionScreen  # noqa: E402
from promptver.tui.browse import BrowseScreen  # noqa: E402
from promptver.tui.evals_shared import RunProgress  # noqa: E402
from promptver.tui.modals import ErrorModal  # noqa: E402


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


@pytest.fixture
def moved(example):
    """production moved from support-reply/1 + support-llm/1 to support-llm/2 (the echo model cut
    to 3 tokens, so every case fails); ``example.before`` is a time just before the move."""
    assert example("model", "add", "support-llm", "--model", "promptver/echo", "--param", "max_tokens=3").code == 0
    pairing = example("pair", "support-reply/1", "support-llm/2").stdout.strip()
    example.before = iso(time.time())
    time.sleep(0.01)
    assert example("label", "set", "support-reply", "production", pairing).code == 0
    return example


@pytest.fixture
def registry(example):
    reg = Registry.open(f"sqlite:///{example.project}/.promptver/registry.db", actor="tester")
    yield reg
    reg.close()


def plain(widget: Static) -> str:
    return widget.content.plain


async def open_attribution(pilot) -> AttributionScreen:
    browse = pilot.app.screen
    assert isinstance(browse, BrowseScreen) and browse.name_shown == "support-reply"
    await pilot.press("a")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AttributionScreen) and screen.prompt == "support-reply"
    return screen


def test_a_stored_report_shows_its_classes(moved, registry):
    result = moved("attribute", "support-reply@production", "--from", moved.before, "--suite",
                   "evals/support-reply.yaml", "--json")
    report = json.loads(result.stdout)

    async def script(pilot):
        screen = await open_attribution(pilot)
        rows = cells(screen.query_one("#reports", DataTable))
        assert rows == [[report["id"][:8], "attribution", "support-reply", "support-llm/1 -> 2", rows[0][4]]]
        text = plain(screen.query_one("#report-text", Static))
        assert text.startswith(f"attribution {report['id']}: support-reply@production from {moved.before}")
        assert text.splitlines()[1] == ("  reverting the prompt fixes 0 of 3 changed case(s) that got worse, "
                                        "reverting the model fixes 3, 0 need both reverted")
        assert "3 changed by the model alone (revert the model): order-status, refund, opening-hours" in text
        # both halves of the change: the prompt did not change, the model's parameters did
        assert "  prompt support-reply/1: the same version on both sides" in text
        assert "  model support-llm/1 -> support-llm/2:\n      ~ params.max_tokens: 300 -> 3" in text
        assert "old prompt + new model   support-reply/1 + support-llm/2: 0%" in text
        await pilot.press("escape")
        await pilot.pause()
        browse = pilot.app.screen
        assert isinstance(browse, BrowseScreen)
        browse.query_one("#series", DataTable).focus()
        await pilot.press("m", "a")  # from the models list: the reports on every prompt
        await settle(pilot)
        everything = pilot.app.screen
        assert isinstance(everything, AttributionScreen) and everything.prompt is None
        assert "Attribution reports (all prompts)" in plain(everything.query_one("#reports-title", Static))
        assert [r[0] for r in cells(everything.query_one("#reports", DataTable))] == [report["id"][:8]]

    drive(PromptverApp(registry), script)


def test_an_attribution_started_from_the_screen_is_stored_and_selected(moved, registry):
    async def script(pilot):
        screen = await open_attribution(pilot)
        assert cells(screen.query_one("#reports", DataTable)) == []
        assert "no stored reports" in plain(screen.query_one("#report-text", Static))
        await pilot.press("n")
        await settle(pilot)
        modal = pilot.app.screen
        assert isinstance(modal, AttributionModal)
        values = modal.values()
        assert values["ref"] == "support-reply@production" and values["end"] == "now"
        assert values["suite"] == "evals/support-reply.yaml" and values["repeats"] == "1"
        assert values["start"] > moved.before  # just before the label's last move
        modal.query_one("#field-repeats", Input).focus()
        await pilot.press("enter")  # enter on the last field starts it
        await until(pilot, lambda: not screen.running and screen.selected_report() is not None)
        assert pilot.app.screen is screen and not screen.running
        stored = ReportReader(registry.reader).list("support-reply")
        assert len(stored) == 1
        found = stored[0]["report"]
        assert found["counts"]["model"] == 3 and found["changed"] == {"prompt": False, "model": True}
        assert screen.selected_report()["id"] == found["id"]
        assert cells(screen.query_one("#reports", DataTable))[0][0] == found["id"][:8]
        assert "3 changed by the model alone (revert the model)" in plain(screen.query_one("#report-text", Static))
        assert found["headline"]["revert_model"] == 3 and found["cases"][0]["revert"] == {"prompt": False, "model": True}
        bar = screen.query_one(RunProgress).bar
        assert bar.total == 6 and bar.progress == 6  # 2 cells x 3 cases
        assert f"report {found['id']} stored" in screen.query_one(RunProgress).status().plain

    drive(PromptverApp(registry), script)


@pytest.mark.parametrize("field, value, message", [
    ("start", "2001-01-01T00:00:00Z", "label 'production' of support-reply was not set yet at"),
    ("start", "the day it broke", "bad time 'the day it broke'"),
    ("suite", "evals/nope.yaml", "nope.yaml"),
    ("repeats", "zero", "repeats must be a whole number"),
])
def test_bad_input_goes_to_the_error_modal_and_nothing_is_stored(moved, registry, field, value, message):
    async def script(pilot):
        screen = await open_attribution(pilot)
        await pilot.press("n")
        await settle(pilot)
        modal = pilot.app.screen
        modal.query_one(f"#field-{field}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ErrorModal)
        assert message in plain(pilot.app.screen.query_one("#error-message", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is screen and not screen.running and pilot.app.is_running
        assert "no report was made" in screen.query_one(RunProgress).status().plain
        await pilot.press("n")  # the app keeps working: the form opens again
        await settle(pilot)
        assert isinstance(pilot.app.screen, AttributionModal)
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is screen

    drive(PromptverApp(registry), script)
    assert ReportReader(registry.reader).list() == []
