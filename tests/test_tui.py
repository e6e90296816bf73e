"""`promptver tui`: the Textual app driven headless through Pilot, over a real registry."""

from __future__ import annotations

import asyncio
import html
import json
import subprocess
import sys

import pytest
from conftest import prompt_spec

pytest.importorskip("textual")

from textual.widgets import DataTable, Input, Static, TextArea  # noqa: E402

from promptver.errors import RegistryUnavailable  # noqa: E402
from promptver.templates.specs import PromptSpec  # noqa: E402
from promptver.tui.app import PromptverApp  # noqa: E402
from promptver.tui.browse import BrowseScreen  # noqa: E402
from promptver.tui.diff_view import DiffScreen  # noqa: E402
from promptver.tui.editor import EditorScreen, parse_edit, version_yaml  # noqa: E402
from promptver.tui.modals import ChangelogModal, ErrorModal  # noqa: E402

SIZE = (80, 24)


def drive(app, script):
    """Run ``script(pilot)`` against ``app`` headless at 80x24."""
    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await script(pilot)
    asyncio.run(main())


async def settle(pilot, rounds=3):
    """Let thread workers finish and their results reach the UI."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def until(pilot, condition, timeout=20.0):
    """Let the app run until ``condition()`` holds (a background run finishing), or fail."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)
    await settle(pilot)


def cells(table: DataTable) -> list[list[str]]:
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def plain(static: Static) -> str:
    return static.content.plain  # every widget of the TUI is given rich.text.Text, never markup


def screen_text(app) -> str:
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


@pytest.fixture
def filled(reg):
    """support-reply v1, v2 (v2 released to production with support-llm/1), a tagged prompt, a model."""
    reg.push_prompt(prompt_spec(), message="first")
    reg.push_prompt(prompt_spec(system="Be brief for {{ company }}."), message="shorter")
    tagged = PromptSpec("billing-reply", [{"role": "user", "content": "bill {{ x }}"}], tags=["billing"])
    reg.push_prompt(tagged, message="billing")
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0.2}, message="m1")
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0.7}, message="m2")
    pairing = reg.pair("support-reply/2", "support-llm/1").pairing
    reg.move_label("support-reply", "production", pairing.id)
    return reg


def select_series(pilot, name):
    screen = pilot.app.screen
    table = screen.query_one("#series", DataTable)
    names = [row[0] for row in cells(table)]
    table.move_cursor(row=names.index(name))


def test_browse_lists_prompts_versions_labels_and_models(filled):
    async def script(pilot):
        app = pilot.app
        assert app.size == SIZE
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        assert [row[0] for row in cells(screen.query_one("#series", DataTable))] == ["billing-reply", "support-reply"]
        select_series(pilot, "support-reply")
        await settle(pilot)
        rows = cells(screen.query_one("#versions", DataTable))
        assert [r[0] for r in rows] == ["v2", "v1"]
        assert rows[0][1] == "tester" and rows[0][3] == "production->support-llm/1" and rows[0][4] == "shorter"
        assert rows[1][3] == "" and rows[1][4] == "first"
        assert "support-reply: 2 version(s)" in screen_text(app)

        await pilot.press("slash", *"#bill")  # the filter: by tag
        await settle(pilot)
        assert [row[0] for row in cells(screen.query_one("#series", DataTable))] == ["billing-reply"]
        screen.query_one("#filter", Input).value = "support"
        await settle(pilot)
        assert [row[0] for row in cells(screen.query_one("#series", DataTable))] == ["support-reply"]
        screen.query_one("#filter", Input).value = ""
        await settle(pilot)

        screen.query_one("#series", DataTable).focus()
        await pilot.press("m")  # models
        await settle(pilot)
        assert [row[0] for row in cells(screen.query_one("#series", DataTable))] == ["support-llm"]
        rows = cells(screen.query_one("#versions", DataTable))
        assert [(r[0], r[3], r[4]) for r in rows] == [("v2", "openai/gpt-4o-2024-08-06", "m2"),
                                                       ("v1", "openai/gpt-4o-2024-08-06", "m1")]
    drive(PromptverApp(filled), script)


def new_text(version, old: str, new: str) -> str:
    text = version_yaml(version)
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("edit_version", [2, 1])
def test_edit_saves_a_new_version_and_leaves_the_old_one(filled, edit_version):
    reg = filled
    before = {v.version: v for v in reg.log("prompt", "support-reply")}

    async def script(pilot):
        app = pilot.app
        select_series(pilot, "support-reply")
        await settle(pilot)
        app.screen.query_one("#versions", DataTable).move_cursor(row=[2, 1].index(edit_version))
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, EditorScreen) and editor.version.version == edit_version
        area = editor.query_one("#editor", TextArea)
        assert area.text == version_yaml(before[edit_version])
        old_system = before[edit_version].messages[0]["content"]
        area.load_text(new_text(before[edit_version], old_system, "Answer in one line for {{ company }}."))
        editor.query_one("#vars", Input).value = json.dumps({"company": "Acme", "question": "Where?"})
        await pilot.pause()
        preview = plain(editor.query_one("#preview", Static))
        assert "Answer in one line for Acme." in preview and "Where?" in preview

        await pilot.press("ctrl+s")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ChangelogModal)
        shown = plain(modal.query_one("#changelog-diff-text", Static))
        assert f"-{old_system}" in shown and "+Answer in one line for {{ company }}." in shown
        await pilot.press("enter")  # an empty message is refused
        await pilot.pause()
        assert app.screen is modal and "required" in plain(modal.query_one("#changelog-error", Static))
        await pilot.press(*"one-line answers", "enter")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen)
        rows = cells(app.screen.query_one("#versions", DataTable))
        assert [r[0] for r in rows] == ["v3", "v2", "v1"]
        assert app.screen.selected_version().version == 3

    drive(PromptverApp(reg), script)
    created = reg.prompt_version("support-reply/3")
    assert created.message == "one-line answers" and created.parent == edit_version
    assert created.messages[0]["content"] == "Answer in one line for {{ company }}."
    assert created.author == "tester"
    for number, old in before.items():  # nothing was overwritten
        again = reg.prompt_version(f"support-reply/{number}")
        assert (again.content_hash, again.messages, again.message) == (old.content_hash, old.messages, old.message)
    assert len(reg.log("prompt", "support-reply")) == 3


@pytest.mark.parametrize("template, expected", [
    ("Hello {{ company", "editor: message 1 (system)"),
    ("{% include 'secrets.txt' %}", "editor: message 1 (system)"),
    ("{{ company.__class__ }}", "editor: message 1 (system)"),
])
def test_invalid_template_is_shown_inline_and_not_saved(filled, template, expected):
    reg = filled
    latest = reg.prompt_version("support-reply")
    bad = new_text(latest, "Be brief for {{ company }}.", json.dumps(template))
    with pytest.raises(Exception) as raised:  # the message the editor must show
        parse_edit(bad, "support-reply")

    async def script(pilot):
        app = pilot.app
        select_series(pilot, "support-reply")
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen
        editor.query_one("#editor", TextArea).load_text(bad)
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is editor  # no changelog modal, no save
        error = plain(editor.query_one("#editor-error", Static))
        assert error == raised.value.message and error.startswith(expected)
        assert raised.value.message[:30] in screen_text(app)  # on screen, under the editor

    drive(PromptverApp(reg), script)
    assert [v.version for v in reg.log("prompt", "support-reply")] == [2, 1]


def test_unchanged_content_is_not_saved(filled):
    async def script(pilot):
        app = pilot.app
        select_series(pilot, "support-reply")
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        await pilot.press("escape", "escape")  # the first leaves the text area, the second the editor
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)

    drive(PromptverApp(filled), script)
    assert len(filled.log("prompt", "support-reply")) == 2


def test_diff_screen_shows_changed_lines_and_fields(filled):
    async def script(pilot):
        app = pilot.app
        select_series(pilot, "support-reply")
        await settle(pilot)
        await pilot.press("d")  # v2 against its parent
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DiffScreen) and (screen.old, screen.new) == (1, 2)
        text = plain(screen.query_one("#diff-text", Static))
        assert "-You are a support agent for {{ company }}." in text and "+Be brief for {{ company }}." in text
        assert "support-reply/1 -> support-reply/2" in screen_text(app)
        await pilot.press("s")  # swap
        await pilot.pause()
        text = plain(screen.query_one("#diff-text", Static))
        assert "+You are a support agent for {{ company }}." in text and "-Be brief for {{ company }}." in text
        await pilot.press("escape")
        await pilot.pause()
        browse = app.screen
        assert isinstance(browse, BrowseScreen)
        browse.query_one("#series", DataTable).focus()
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        text = plain(app.screen.query_one("#diff-text", Static))
        assert "changed  params.temperature: 0.2 -> 0.7" in text

    drive(PromptverApp(filled), script)


def test_prompt_text_is_shown_literally_never_as_markup_or_escapes(reg):
    system = "[bold]x[/bold] \x1b[31mred {{ company }}"
    reg.push_prompt(prompt_spec(system=system), message="[red]msg[/red] \x1b[2J")

    async def script(pilot):
        app = pilot.app
        browse = app.screen
        rows = cells(browse.query_one("#versions", DataTable))
        assert rows[0][4] == "[red]msg[/red] \\x1b[2J"
        assert "[red]msg[/red] \\x1b[2J" in plain(browse.query_one("#detail", Static))
        assert "[red]msg[/red]" in screen_text(app)
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen
        editor.query_one("#vars", Input).value = json.dumps({"company": "[i]Acme[/i]", "question": "q"})
        await pilot.pause()
        preview = editor.query_one("#preview", Static).content
        assert "[bold]x[/bold] \\x1b[31mred [i]Acme[/i]" in preview.plain
        assert "\x1b" not in preview.plain
        styled = [preview.plain[span.start:span.end] for span in preview.spans]
        assert styled == ["1. system\n", "2. user\n"]  # the role headers; nothing from the template
        shown = screen_text(app)
        assert "[bold]x[/bold]" in shown and "\x1b" not in shown

    drive(PromptverApp(reg), script)


class _Down:
    """A registry whose database went away."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RegistryUnavailable("cannot reach the registry database: gone")
        return fail


def test_errors_go_to_a_modal_and_the_app_keeps_running():
    async def script(pilot):
        app = pilot.app
        assert isinstance(app.screen, ErrorModal)
        assert plain(app.screen.query_one("#error-message", Static)) == "cannot reach the registry database: gone"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen) and app.is_running
        await pilot.press("e")  # nothing selected: a notice, no crash
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)

    drive(PromptverApp(_Down()), script)


def test_cli_has_tui_and_does_not_import_textual_at_startup(cli):
    assert "tui" in cli("--help").stdout
    code = "import promptver.cli.main, sys; print(any(m.split('.')[0] == 'textual' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
