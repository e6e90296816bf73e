"""The editor screen: a prompt version as the YAML of a prompt file, a live preview of its rendered
messages, and saving as a NEW version (diff, changelog message, ``Registry.push_prompt``)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import yaml
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Select, Static, TextArea

from promptver.core.diff import VersionDiff, diff_prompts
from promptver.errors import InvalidValue, MissingVariables, PromptverError
from promptver.templates.files import parse_prompt_file
from promptver.templates.specs import PromptSpec, with_defaults
from promptver.tui.modals import ChangelogModal, ConfirmModal
from promptver.tui.text import literal

MAX_CASES = 500  # test cases offered for the preview's variables
PREVIEW_SECONDS = 0.5  # the preview renders on every keystroke: a tighter bound than a real render


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None  # PyYAML falls back to quoting when a block cannot hold it
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def version_yaml(version: Any) -> str:
    """A prompt version as the text of a prompt file (templates/files.py reads it back)."""
    data: dict[str, Any] = {"name": version.name}
    if version.description:
        data["description"] = version.description
    data["messages"] = version.messages
    for key in ("variables", "tools", "response_format", "tags"):
        value = getattr(version, key)
        if value:
            data[key] = value
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def parse_edit(text: str, name: str) -> PromptSpec:
    """The edited text as a validated spec of prompt ``name``; a PromptverError when it is not one."""
    spec = parse_prompt_file(text, "editor")
    if spec.name != name:
        raise InvalidValue(f"editor: the name must stay {name!r} (a new prompt is not made here)")
    return spec.validated("editor")[0]


def preview_variables(spec: PromptSpec, text: str) -> dict[str, Any]:
    """The variables typed as a JSON object, over the declared defaults."""
    try:
        given = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise InvalidValue(f"variables: not JSON: {exc}") from None
    if not isinstance(given, dict):
        raise InvalidValue('variables: a JSON object is needed, e.g. {"company": "Acme"}')
    return with_defaults(spec.variables, given)


def render_preview(spec: PromptSpec, variables: dict[str, Any]) -> Text:
    from promptver.templates import render_messages

    out = Text()
    for i, message in enumerate(render_messages(spec.messages, variables, max_seconds=PREVIEW_SECONDS), 1):
        out.append(f"{i}. {message['role']}\n", style="bold")
        out.append_text(literal(message["content"]))
        out.append("\n\n")
    return out


def test_cases(registry: Any, limit: int = MAX_CASES) -> dict[str, dict[str, Any]]:
    """The variables of the stored test cases (the latest version of every dataset), by
    "dataset/N: case id"; none through a server (datasets live in the local registry)."""
    from promptver.storage.reader import DatasetReader

    reader = getattr(registry, "reader", None)
    if reader is None:
        return {}
    datasets = DatasetReader(reader)
    found: dict[str, dict[str, Any]] = {}
    for name in datasets.names():
        version = datasets.version(name)
        for case in (version or {}).get("cases", []):
            if len(found) >= limit:
                return found
            if isinstance(case, dict) and isinstance(case.get("vars"), dict):
                found[f"{name}/{version['version']}: {case.get('id')}"] = case["vars"]  # type: ignore[index]
    return found


def edit_diff(parent: Any, spec: PromptSpec) -> VersionDiff:
    draft = SimpleNamespace(ref=f"{parent.name}/new", messages=spec.messages, variables=spec.variables,
                            tools=spec.tools, response_format=spec.response_format)
    return diff_prompts(parent, draft)


class EditorScreen(Screen[Any]):
    """Edits ``version``; dismissed with the created PromptVersion, or None when nothing was saved."""

    DEFAULT_CSS = """
    EditorScreen #editor-title { height: 1; text-style: bold; padding: 0 1; }
    EditorScreen #editor { width: 1fr; }
    EditorScreen #side { width: 1fr; }
    EditorScreen #vars { height: 3; }
    EditorScreen #case { height: 3; }
    EditorScreen #preview-box { height: 1fr; border-top: solid $primary; }
    EditorScreen #editor-error { height: auto; max-height: 6; color: $error; padding: 0 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save as new version", priority=True),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, version: Any) -> None:
        super().__init__()
        self.version = version
        self.error: str = ""
        self.cases: dict[str, dict[str, Any]] = {}  # "dataset/N: case id" -> its variables
        self.original = version_yaml(version)

    def compose(self) -> ComposeResult:
        yield Static(literal(f"editing {self.version.ref} (saving creates a new version)"), id="editor-title")
        with Horizontal():
            yield TextArea.code_editor(self.original, id="editor", soft_wrap=True,
                                         show_line_numbers=False)
            with Vertical(id="side"):
                yield Select[str]([], prompt="variables of a test case…", id="case")
                yield Input(placeholder='variables as JSON: {"company": "Acme"}', id="vars")
                with VerticalScroll(id="preview-box"):
                    yield Static("", id="preview")
        yield Static("", id="editor-error")
        yield Footer()

    def on_mount(self) -> None:
        editor = self.query_one("#editor", TextArea)
        if "yaml" in editor.available_languages:  # with textual[syntax] installed
            editor.language = "yaml"
        editor.focus()
        self.refresh_preview()
        self.app.background(lambda: test_cases(self.app.registry), self._show_cases,  # type: ignore[attr-defined]
                            group="cases", failed=lambda exc: None)  # no cases: type the variables

    def _show_cases(self, cases: dict[str, dict[str, Any]]) -> None:
        self.cases = cases
        self.query_one("#case", Select).set_options((label, label) for label in cases)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A test case fills the variables (and so the preview) with its own."""
        if event.select.id == "case" and isinstance(event.value, str) and event.value in self.cases:
            self.query_one("#vars", Input).value = json.dumps(self.cases[event.value], ensure_ascii=False)

    @property
    def text(self) -> str:
        return self.query_one("#editor", TextArea).text

    def show_error(self, message: str) -> None:
        self.error = message
        self.query_one("#editor-error", Static).update(literal(message))

    def refresh_preview(self) -> None:
        preview = self.query_one("#preview", Static)
        try:
            spec = parse_edit(self.text, self.version.name)
        except PromptverError as exc:
            self.show_error(exc.message)
            preview.update(Text("(fix the prompt to see the preview)", style="dim"))
            return
        self.show_error("")
        try:
            preview.update(render_preview(spec, preview_variables(spec, self.query_one("#vars", Input).value)))
        except PromptverError as exc:
            hint = ("\n(pick a test case, or type the variables as a JSON object above)"
                    if isinstance(exc, MissingVariables) else "")
            preview.update(literal(exc.message + hint, "italic"))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.refresh_preview()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "vars":
            self.refresh_preview()

    # -- saving ---------------------------------------------------------------------------------
    def action_save(self) -> None:
        try:
            spec = parse_edit(self.text, self.version.name)
        except PromptverError as exc:
            self.show_error(exc.message)
            self.notify("not saved: the prompt is invalid", severity="error")
            return
        if spec.content_hash == self.version.content_hash:
            self.notify(f"nothing to save: the content is {self.version.ref}'s", severity="warning")
            return
        self.app.push_screen(ChangelogModal(edit_diff(self.version, spec)),
                             lambda message: self._push(spec, message))

    def _push(self, spec: PromptSpec, message: str | None) -> None:
        if message is None:
            return
        registry = self.app.registry  # type: ignore[attr-defined]
        self.app.background(  # type: ignore[attr-defined]
            lambda: registry.push_prompt(spec, message=message, parent=self.version.ref, where="editor"),
            self._pushed, group="save")

    def _pushed(self, pushed: Any) -> None:
        if not pushed.created:
            self.app.show_error(f"unchanged: {pushed.version.ref} already holds this content",  # type: ignore[attr-defined]
                                title="Not saved")
            return
        self.app.notify(f"created {pushed.version.ref}")
        self.dismiss(pushed.version)

    def action_close(self) -> None:
        """Close; edits not saved are thrown away only after a yes."""
        if self.text == self.original:
            self.dismiss(None)
            return
        self.app.push_screen(ConfirmModal("Discard the edits you have not saved? (y / n)"),
                             lambda yes: self.dismiss(None) if yes else None)
