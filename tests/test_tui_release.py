"""`promptver tui` releases: the release screen (pairing, label, diff against the current target,
the pairing's latest eval result, a reason) and the rollback screen, driven headless over a real
registry on both backends. Every move is exactly one label event; a cancel or a refusal writes none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import prompt_spec

pytest.importorskip("textual")

from test_tui import cells, drive, plain, screen_text, select_series, settle  # noqa: E402
from textual.widgets import Button, DataTable, Input, Select, Static  # noqa: E402

from promptver.services import access  # noqa: E402
from promptver.services.access import Principal  # noqa: E402
from promptver.services.registry import Registry  # noqa: E402
from promptver.tui.app import PromptverApp  # noqa: E402
from promptver.tui.browse import BrowseScreen  # noqa: E402
from promptver.tui.modals import ErrorModal  # noqa: E402
from promptver.tui.release import NEW, ReleaseScreen, RollbackScreen  # noqa: E402
from promptver.tui.release_data import LOCAL_ONLY, latest_eval  # noqa: E402

PROMPT = "support-reply"


@pytest.fixture
def released(reg):
    """support-reply v1, v2; support-llm v1 (t=0.2), v2 (t=0.7); production -> v2 + llm/1 (event 1);
    pairings v1 + llm/2 and v2 + llm/2 exist but are not released. reg.ids names the pairings."""
    reg.push_prompt(prompt_spec(), message="first")
    reg.push_prompt(prompt_spec(system="Be brief for {{ company }}."), message="shorter")
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0.2}, message="m1")
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0.7}, message="m2")
    ids = {"2+1": reg.pair("support-reply/2", "support-llm/1").pairing.id,
           "1+2": reg.pair("support-reply/1", "support-llm/2").pairing.id,
           "2+2": reg.pair("support-reply/2", "support-llm/2").pairing.id}
    reg.move_label(PROMPT, "production", ids["2+1"], reason="first release")
    reg.ids = ids
    return reg


def history(reg, label="production"):
    return [(e.seq, e.pairing_id, e.actor, e.reason) for e in reg.label_history(PROMPT, label)]


def add_run(reg, run_id, when, rows):
    """Store an eval run directly: rows are (pairing id, case id, error or None, [score passed, ...])."""
    from promptver.services import datasets
    from promptver.storage import eval_writes

    version, _ = datasets.push(reg, "cases", [{"id": f"c{i}", "vars": {}} for i in range(4)], "0" * 64)

    def write(tx):
        eval_writes.insert_run(tx, id=run_id, suite="support", suite_hash="h" * 64, dataset_version_id=version.id,
                               plan={"calls": len(rows)}, environment={}, actor="tester", created_at=when)
        eval_writes.insert_run_event(tx, run_id=run_id, state="completed", details={}, created_at=when)
        for pairing, case, error, passed in rows:
            rid = eval_writes.insert_result(
                tx, run_id=run_id, pairing_id=pairing, case_id=case, repeat=0, request_key="k" * 64,
                output=None if error else "ok", latency_ms=1.0, prompt_tokens=1, completion_tokens=1, cost_usd=0.0,
                cached=False, error=error, error_kind="server" if error else None, response_model=None,
                system_fingerprint=None, created_at=when)
            eval_writes.insert_scores(tx, [{"run_id": run_id, "result_id": rid, "scorer": f"s{i}",
                                            "scorer_version": "v" * 64, "value": float(ok), "passed": ok,
                                            "detail": ""} for i, ok in enumerate(passed)])
    reg.db.write_plain(write)


async def open_release(pilot, version):
    """From the browse screen: highlight support-reply/<version> and press l."""
    select_series(pilot, PROMPT)
    await settle(pilot)
    table = pilot.app.screen.query_one("#versions", DataTable)
    table.move_cursor(row=[r[0] for r in cells(table)].index(f"v{version}"))
    await pilot.press("l")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ReleaseScreen) and screen.version.version == version
    return screen


async def type_reason(pilot, screen, reason, field="#reason"):
    screen.query_one(field, Input).focus()
    await pilot.press(*reason)


def test_release_shows_the_diff_against_the_current_target_and_the_latest_eval(released):
    reg, ids = released, released.ids
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    add_run(reg, "older0000000001", t0, [(ids["1+2"], "c0", None, [True])])
    add_run(reg, "latest000000001", t0 + timedelta(days=1), [  # the latest run with results for 1+2
        (ids["1+2"], "c0", None, [True, True]), (ids["1+2"], "c1", None, [True]),
        (ids["1+2"], "c2", None, [True, False]), (ids["1+2"], "c3", "HTTP 500", []),
        (ids["2+1"], "c0", None, [False])])
    add_run(reg, "other0000000001", t0 + timedelta(days=2), [(ids["2+1"], "c0", None, [True])])  # not 1+2

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        assert screen.query_one("#pairing", Select).value == ids["1+2"]  # v1's only pairing
        assert screen.query_one("#label", Select).value == "production"
        target = plain(screen.query_one("#target", Static))
        assert target.startswith(f"production now: event #1 -> support-reply/2 + support-llm/1 ({ids['2+1']})")
        assert "first release" in target
        diff = plain(screen.query_one("#release-diff-text", Static))
        assert "prompt support-reply/2 -> support-reply/1" in diff
        assert "-Be brief for {{ company }}." in diff and "+You are a support agent for {{ company }}." in diff
        assert "model support-llm/1 -> support-llm/2" in diff and "params.temperature: 0.2 -> 0.7" in diff
        evals = plain(screen.query_one("#eval", Static))
        assert "latest run latest000000001 (support," in evals and "completed" in evals
        assert "2/3 passed (67%), 1 of 4 call(s) failed" in evals
        shown = screen_text(app)
        assert "production now: event #1" in shown and "2/3 passed (67%)" in shown

        screen.query_one("#label", Select).value = NEW  # a new label: not set yet, nothing to diff
        await settle(pilot)
        new_label = screen.query_one("#new-label", Input)
        assert not new_label.disabled and new_label.has_focus
        await pilot.press(*"canary")
        await settle(pilot)
        assert plain(screen.query_one("#target", Static)) == "canary: the label is not set yet"
        assert "the label 'canary' is not set yet" in plain(screen.query_one("#release-diff-text", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)

    drive(PromptverApp(reg), script)
    assert history(reg) == [(1, ids["2+1"], "tester", "first release")]  # looking writes nothing
    assert reg.label_history(PROMPT, "canary") == []


def test_release_writes_exactly_one_label_event_with_reason_and_actor(released):
    reg, ids = released, released.ids
    before = history(reg)

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        await type_reason(pilot, screen, "[bold]roll[/bold] v1 back")
        await pilot.press("enter")  # enter in the reason goes to the Release button
        assert screen.query_one("#confirm", Button).has_focus
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        rows = cells(app.screen.query_one("#versions", DataTable))  # browse reloaded its labels
        assert [(r[0], r[3]) for r in rows] == [("v2", ""), ("v1", "production->support-llm/2")]

    drive(PromptverApp(reg), script)
    after = history(reg)
    assert after[:-1] == before and len(after) == len(before) + 1
    assert after[-1] == (2, ids["1+2"], "tester", "[bold]roll[/bold] v1 back")
    assert reg.label_history(PROMPT, "production")[-1].previous_pairing_id == ids["2+1"]
    assert reg.current_labels(PROMPT)["production"].pairing_id == ids["1+2"]


def test_release_of_a_new_label_expects_it_unset(released):
    reg, ids = released, released.ids

    async def script(pilot):
        screen = await open_release(pilot, 2)
        pairing = screen.query_one("#pairing", Select)
        assert {p.id for p in screen.context.pairings} == {ids["2+1"], ids["2+2"]}
        pairing.value = ids["2+2"]
        screen.query_one("#label", Select).value = NEW
        await settle(pilot)
        await pilot.press(*"canary")
        await type_reason(pilot, screen, "try llm/2")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, BrowseScreen)

    drive(PromptverApp(reg), script)
    assert history(reg, "canary") == [(1, ids["2+2"], "tester", "try llm/2")]
    assert len(history(reg)) == 1


def test_cancelling_writes_nothing(released):
    reg = released
    before = (history(reg), reg.reader.scalar("SELECT COUNT(*) FROM label_events"),
              reg.reader.scalar("SELECT COUNT(*) FROM audit_events"))

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        await type_reason(pilot, screen, "not now")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        await pilot.press("l")
        await settle(pilot)
        app.screen.query_one("#cancel", Button).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, RollbackScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)

    drive(PromptverApp(reg), script)
    assert (history(reg), reg.reader.scalar("SELECT COUNT(*) FROM label_events"),
            reg.reader.scalar("SELECT COUNT(*) FROM audit_events")) == before


def test_a_protected_label_refuses_an_editor_in_the_error_modal(released):
    reg, ids = released, released.ids
    access.add_user(reg, "ed", "editor")
    editor = Registry(reg.db, principal=Principal("ed", "editor"))
    before = history(reg)

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        await type_reason(pilot, screen, "ship it")
        await pilot.press("ctrl+s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ErrorModal)
        message = plain(modal.query_one("#error-message", Static))
        assert "label 'production' is protected: only releasers may move it (ed is editor)" in message
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen  # still open, the choice kept
        assert screen.query_one("#reason", Input).value == "ship it"
        screen.query_one("#label", Select).value = NEW  # an unprotected label is the editor's to move
        await settle(pilot)
        await pilot.press(*"staging", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)

    drive(PromptverApp(editor), script)
    assert history(reg) == before
    assert [(e.actor, e.target) for e in reg.reader.audit(action="denied")] == [("ed", "support-reply@production")]
    assert history(reg, "staging") == [(1, ids["1+2"], "ed", "ship it")]


def test_a_release_gate_refuses_in_the_error_modal(released):
    reg = released
    reg.set_label_policy(PROMPT, "production", protected=True, require_suite="support")
    before = history(reg)

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "requires a passing run of eval suite 'support'" in plain(app.screen.query_one("#error-message", Static))
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen

    drive(PromptverApp(reg), script)
    assert history(reg) == before


def test_a_move_by_someone_else_meanwhile_is_a_conflict_then_a_retry_sees_it(released):
    reg, ids = released, released.ids
    other = Registry(reg.db, principal=Principal("ann", "admin"))

    async def script(pilot):
        app = pilot.app
        screen = await open_release(pilot, 1)
        other.move_label(PROMPT, "production", ids["2+2"], reason="ann's release")  # after the screen read it
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "was moved by ann" in plain(app.screen.query_one("#error-message", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen  # reloaded: the diff is now against ann's target
        assert plain(screen.query_one("#target", Static)).startswith(
            f"production now: event #2 -> support-reply/2 + support-llm/2 ({ids['2+2']}) by ann")
        assert "model support-llm/2 -> support-llm/2" in plain(screen.query_one("#release-diff-text", Static))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)

    drive(PromptverApp(reg), script)
    assert history(reg) == [(1, ids["2+1"], "tester", "first release"), (2, ids["2+2"], "ann", "ann's release"),
                            (3, ids["1+2"], "tester", "")]


def test_a_version_without_pairings_offers_nothing(reg):
    reg.push_prompt(prompt_spec(), message="first")

    async def script(pilot):
        screen = await open_release(pilot, 1)
        target = plain(screen.query_one("#target", Static))
        assert "support-reply/1 has no pairings: pair it with a model first" in target
        assert screen.query_one("#new-label", Input).value == "production"  # no labels yet: the default
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert pilot.app.screen is screen
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        current = plain(pilot.app.screen.query_one("#rb-current", Static))
        assert current == "support-reply has no labels: nothing to roll back"

    drive(PromptverApp(reg), script)
    assert reg.label_history(PROMPT) == []


def test_eval_results_are_local_only(released):
    class Remote:  # a RemoteRegistry has no database reader
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            if name == "reader":
                raise AttributeError(name)
            return getattr(self._inner, name)

    remote = Remote(released)
    assert latest_eval(remote, released.ids["1+2"]) == LOCAL_ONLY
    assert latest_eval(released, released.ids["1+2"]) is None

    async def script(pilot):
        screen = await open_release(pilot, 1)
        assert plain(screen.query_one("#eval", Static)) == "eval results: local registry only"

    drive(PromptverApp(remote), script)


def test_rollback_moves_the_label_back_to_the_chosen_event_with_one_event(released):
    reg, ids = released, released.ids
    reg.move_label(PROMPT, "production", ids["2+2"], reason="llm/2")
    reg.move_label(PROMPT, "production", ids["1+2"], reason="[red]v1[/red] \x1b[2J")
    reg.move_label(PROMPT, "staging", ids["2+2"])
    before = history(reg)

    async def script(pilot):
        app = pilot.app
        select_series(pilot, PROMPT)
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RollbackScreen)
        assert screen.query_one("#rb-label", Select).value == "production"
        rows = cells(screen.query_one("#rb-history", DataTable))
        assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
            ("3*", "support-reply/1", "support-llm/2", "tester"), ("2", "support-reply/2", "support-llm/2", "tester"),
            ("1", "support-reply/2", "support-llm/1", "tester")]
        assert rows[0][5] == "[red]v1[/red] \\x1b[2J"  # literally, never markup or an escape
        assert "production now (*): event #3 -> support-reply/1 + support-llm/2" in plain(
            screen.query_one("#rb-current", Static))
        assert plain(screen.query_one("#rb-chosen", Static)).startswith("roll back to event #2")  # the one before

        table = screen.query_one("#rb-history", DataTable)
        table.move_cursor(row=0)
        await pilot.pause()
        await pilot.press("ctrl+s")  # the current event: refused, nothing written
        await settle(pilot)
        assert app.screen is screen
        assert "is the label's current target" in plain(screen.query_one("#rb-chosen", Static))

        table.move_cursor(row=2)  # the first release
        table.focus()
        await pilot.press("enter")  # to the reason
        assert screen.query_one("#rb-reason", Input).has_focus
        await pilot.press(*"llm/2 too slow", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        rows = cells(app.screen.query_one("#versions", DataTable))
        assert rows[0][3] == "production->support-llm/1, staging->support-llm/2"

    drive(PromptverApp(reg), script)
    after = history(reg)
    assert after[:-1] == before and after[-1] == (4, ids["2+1"], "tester", "llm/2 too slow")
    assert reg.label_history(PROMPT, "production")[-1].previous_pairing_id == ids["1+2"]
    assert reg.current_labels(PROMPT)["production"].pairing_id == ids["2+1"]
    assert history(reg, "staging") == [(1, ids["2+2"], "tester", "")]


def test_rollback_of_another_label_and_a_conflict(released):
    reg, ids = released, released.ids
    reg.move_label(PROMPT, "staging", ids["2+2"])
    reg.move_label(PROMPT, "staging", ids["1+2"])
    other = Registry(reg.db, principal=Principal("ann", "admin"))

    async def script(pilot):
        app = pilot.app
        app.push_screen(RollbackScreen(PROMPT))
        await settle(pilot)
        screen = app.screen
        screen.query_one("#rb-label", Select).value = "staging"
        await settle(pilot)
        assert [r[0] for r in cells(screen.query_one("#rb-history", DataTable))] == ["2*", "1"]
        other.move_label(PROMPT, "staging", ids["2+1"], reason="ann")
        await pilot.press("ctrl+s")  # to event 1, but the label moved since the screen read it
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "was moved by ann at" in plain(app.screen.query_one("#error-message", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert [r[0] for r in cells(screen.query_one("#rb-history", DataTable))] == ["3*", "2", "1"]
        screen.query_one("#rb-history", DataTable).move_cursor(row=2)
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, RollbackScreen)

    drive(PromptverApp(reg), script)
    assert history(reg, "staging") == [(1, ids["2+2"], "tester", ""), (2, ids["1+2"], "tester", ""),
                                       (3, ids["2+1"], "ann", "ann"), (4, ids["2+2"], "tester", "rollback of event 3")]
    assert len(history(reg)) == 1
