"""`promptver tui` over a server (PROMPTVER_URL): browse, edit and save through the HTTP API; the
views that need the registry database say so."""

import pytest
from conftest import prompt_spec
from server_fixture import running_server

pytest.importorskip("textual")

from test_tui import cells, drive, screen_text, select_series, settle  # noqa: E402
from textual.widgets import DataTable, TextArea  # noqa: E402

from promptver.services.remote import RemoteRegistry  # noqa: E402
from promptver.tui.app import PromptverApp  # noqa: E402
from promptver.tui.editor import EditorScreen  # noqa: E402
from promptver.tui.modals import ChangelogModal  # noqa: E402


@pytest.fixture
def remote(tmp_path):
    with running_server(f"sqlite:///{tmp_path / 'registry.db'}") as server:
        editor = RemoteRegistry(server.url, server.tokens["editor"])
        editor.push_prompt(prompt_spec(name="remote-tui"), message="first")
        yield server, editor
        editor.close()


def test_browse_edit_and_save_through_the_server(remote):
    server, registry = remote

    async def script(pilot):
        select_series(pilot, "remote-tui")
        await settle(pilot)
        assert [row[0] for row in cells(pilot.app.screen.query_one("#versions", DataTable))] == ["v1"]
        await pilot.press("e")
        await settle(pilot)
        editor = pilot.app.screen
        assert isinstance(editor, EditorScreen)
        area = editor.query_one("#editor", TextArea)
        area.text = area.text.replace("You are a support agent", "You are a kind support agent")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ChangelogModal)
        await pilot.press(*"kinder", "enter")
        await settle(pilot)
        assert "remote-tui: 2 version(s)" in screen_text(pilot.app)
        await pilot.press("v")  # evals need the registry database
        await settle(pilot)
        assert "evals need the local registry" in screen_text(pilot.app)

    drive(PromptverApp(registry), script)
    viewer = RemoteRegistry(server.url, server.tokens["viewer"])
    try:
        v2 = viewer.prompt_version("remote-tui/2")
        assert v2.message == "kinder" and v2.author == "editor" and v2.parent == 1
        assert "You are a kind support agent" in v2.messages[0]["content"]
        assert viewer.prompt_version("remote-tui/1").message == "first"
    finally:
        viewer.close()
