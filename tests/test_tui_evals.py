"""The TUI's evals screen (`v`): runs, the matrix with regressed cells in red, the drill-down to a
case's full output, and a new run started from the screen (offline model `promptver/echo`)."""

from __future__ import annotations

import json

import pytest
from conftest import write_suite

pytest.importorskip("textual")

from test_tui import cells, drive, screen_text, settle, until  # noqa: E402
from textual.widgets import DataTable, Input, Static  # noqa: E402

from promptver.services.registry import Registry  # noqa: E402
from promptver.storage.eval_reader import EvalReader  # noqa: E402
from promptver.tui.app import PromptverApp  # noqa: E402
from promptver.tui.browse import BrowseScreen  # noqa: E402
from promptver.tui.evals_shared import LOCAL_ONLY, RunProgress  # noqa: E402
from promptver.tui.evals_view import REGRESSED, CasesScreen, EvalsScreen, ResultScreen, SuiteModal  # noqa: E402
from promptver.tui.modals import ErrorModal  # noqa: E402

TWO_MODELS = ("dataset: support-reply.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1, support-llm/2]\n"
              "scorers: [{type: contains}]\n")


@pytest.fixture
def registry(example):
    reg = Registry.open(f"sqlite:///{example.project}/.promptver/registry.db", actor="tester")
    yield reg
    reg.close()


@pytest.fixture
def truncated(example):
    """support-llm/2: the echo model cut to 3 tokens, so its answers miss the expected keyword."""
    assert example("model", "add", "support-llm", "--model", "promptver/echo", "--param", "max_tokens=3").code == 0
    return example


def styles(table: DataTable) -> list[list[str]]:
    return [[str(cell.style) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def plain(widget: Static) -> str:
    return widget.content.plain


async def open_evals(pilot) -> EvalsScreen:
    await pilot.press("v")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, EvalsScreen)
    return screen


def test_matrix_shows_pass_rates_and_a_cell_below_min_pass_rate_in_red(truncated, registry):
    result = truncated("eval", write_suite(truncated.project, TWO_MODELS, "two.yaml"), "--json")
    run_id = json.loads(result.stdout)["run"]

    async def script(pilot):
        screen = await open_evals(pilot)
        runs = cells(screen.query_one("#runs", DataTable))
        assert runs == [[run_id, "two", "completed", runs[0][3]]]
        matrix = screen.query_one("#matrix", DataTable)
        assert [str(c.label) for c in matrix.columns.values()] == ["prompt \\ model", "support-llm/1", "support-llm/2"]
        rows = cells(matrix)
        assert rows[0][:2] == ["support-reply/1", "100% 3/3"] and rows[0][2].endswith("/3")
        assert rows[0][2] != "100% 3/3"
        assert styles(matrix)[0][1:] == ["", REGRESSED]  # below min_pass_rate (default 100%)
        assert "1 regressed cell(s) in red" in plain(screen.query_one("#matrix-note", Static))
        matrix.focus()
        matrix.move_cursor(row=0, column=2)
        await pilot.pause()
        assert "below the suite's min_pass_rate" in plain(screen.query_one("#matrix-note", Static))
        assert "support-llm/2" in screen_text(pilot.app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, BrowseScreen)

    drive(PromptverApp(registry), script)


def test_a_drop_against_the_previous_run_of_the_suite_is_red(example, registry):
    dataset = example.project / "evals" / "d.jsonl"
    dataset.write_text((example.project / "evals" / "support-reply.jsonl").read_text())
    suite = write_suite(example.project, "dataset: d.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
                                         "scorers: [{type: contains}]\nmin_pass_rate: 0.5\n", "drop.yaml")
    first = json.loads(example("eval", suite, "--json").stdout)["run"]
    lines = dataset.read_text().splitlines()
    case = json.loads(lines[1])
    lines[1] = json.dumps({**case, "expected": "zebra"})  # the same pairing now fails one case of three
    dataset.write_text("\n".join(lines) + "\n")
    second = json.loads(example("eval", suite, "--json").stdout)["run"]

    async def script(pilot):
        screen = await open_evals(pilot)
        runs = screen.query_one("#runs", DataTable)
        assert [r[0] for r in cells(runs)] == [second, first]  # newest first, the newest selected
        matrix = screen.query_one("#matrix", DataTable)
        assert cells(matrix) == [["support-reply/1", "67% 2/3 ↓100%"]]
        assert styles(matrix)[0][1] == REGRESSED  # above min_pass_rate 50%, below the previous run
        assert f"was 100% in run {first}" in plain(screen.query_one("#matrix-note", Static))

        runs.focus()
        await pilot.press("down")  # the first run: nothing before it
        await settle(pilot)
        assert cells(matrix) == [["support-reply/1", "100% 3/3"]] and styles(matrix)[0][1] == ""

        await pilot.press("up")
        await settle(pilot)
        await pilot.press("enter")  # to the matrix
        await pilot.pause()
        assert matrix.has_focus
        await pilot.press("enter")  # the cell: its cases
        await settle(pilot)
        cases_screen = pilot.app.screen
        assert isinstance(cases_screen, CasesScreen)
        rows = cells(cases_screen.query_one("#cases", DataTable))
        assert [(r[0], r[1]) for r in rows] == [("order-status", "yes"), (case["id"], "no"), ("opening-hours", "yes")]
        stored = {r["case_id"]: r["output"] for r in EvalReader(registry.reader).results(second)}
        first_line = stored[case["id"]].splitlines()[0]
        assert rows[1][2] == (first_line if len(first_line) <= 30 else first_line[:29] + "…")
        assert rows[1][3] == ""

        await pilot.press("down", "enter")  # the failing case in full
        await settle(pilot)
        result = pilot.app.screen
        assert isinstance(result, ResultScreen)
        text = plain(result.query_one("#result-text", Static))
        assert text.startswith("failed") and "contains: 0.000 FAIL" in text
        assert text.endswith(stored[case["id"]])  # the whole output, literally
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert pilot.app.screen is screen

    drive(PromptverApp(registry), script)


def test_a_run_started_from_the_screen_completes_and_is_selected(example, registry):
    async def script(pilot):
        screen = await open_evals(pilot)
        assert cells(screen.query_one("#runs", DataTable)) == []
        assert "no eval runs yet" in plain(screen.query_one("#matrix-title", Static))
        await pilot.press("n")
        await pilot.pause()
        modal = pilot.app.screen
        assert isinstance(modal, SuiteModal)
        assert modal.query_one("#suite-path", Input).value == "evals/support-reply.yaml"
        await pilot.press("enter")
        await until(pilot, lambda: not screen.running and screen.selected_run() is not None)
        assert pilot.app.screen is screen and not screen.running
        runs = EvalReader(registry.reader).runs()
        assert len(runs) == 1 and runs[0]["state"] == "completed"
        assert cells(screen.query_one("#runs", DataTable))[0][:3] == [runs[0]["id"], "support-reply", "completed"]
        assert screen.selected_run() == runs[0]["id"]
        bar = screen.query_one(RunProgress).bar
        assert bar.total == 3 and bar.progress == 3  # one call per case, each reported
        assert f"run {runs[0]['id']} completed: 3 calls" in screen.query_one(RunProgress).status().plain
        assert cells(screen.query_one("#matrix", DataTable)) == [["support-reply/1", "100% 3/3"]]

    drive(PromptverApp(registry), script)


def test_a_bad_suite_path_goes_to_the_error_modal(example, registry):
    async def script(pilot):
        screen = await open_evals(pilot)
        await pilot.press("n")
        await pilot.pause()
        pilot.app.screen.query_one("#suite-path", Input).value = "evals/nope.yaml"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ErrorModal)
        assert "nope.yaml" in plain(pilot.app.screen.query_one("#error-message", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is screen and not screen.running and pilot.app.is_running
        assert EvalReader(registry.reader).runs() == []

    drive(PromptverApp(registry), script)


class _Remote:
    """A registry reached through a server: no database handle, no reader."""

    def series(self, kind):
        return []


def test_a_remote_registry_is_told_evals_need_the_local_one():
    async def script(pilot):
        screen = await open_evals(pilot)
        assert LOCAL_ONLY in plain(screen.query_one("#matrix-title", Static))
        await pilot.press("n")
        await pilot.pause()
        assert pilot.app.screen is screen

    drive(PromptverApp(_Remote()), script)


def test_outputs_are_shown_literally_never_as_markup_or_escapes(example, registry):
    (example.project / "evals" / "odd.jsonl").write_text(json.dumps(
        {"id": "[b]odd[/b]", "vars": {"company": "Acme", "question": "[red]hi[/red] \x1b[2J refund"},
         "expected": "refund"}) + "\n")
    suite = write_suite(example.project, "dataset: odd.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
                                         "scorers: [{type: contains}]\n", "odd.yaml")
    assert example("eval", suite).code == 0

    async def script(pilot):
        screen = await open_evals(pilot)
        screen.query_one("#matrix", DataTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        rows = cells(pilot.app.screen.query_one("#cases", DataTable))
        assert rows[0][:2] == ["[b]odd[/b]", "yes"]
        await pilot.press("enter")
        await settle(pilot)
        text = pilot.app.screen.query_one("#result-text", Static).content
        assert "[red]hi[/red] \\x1b[2J refund" in text.plain and "\x1b" not in text.plain
        assert "[b]odd[/b]" in screen_text(pilot.app) and "\x1b" not in screen_text(pilot.app)

    drive(PromptverApp(registry), script)
