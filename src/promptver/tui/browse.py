"""The browse screen: prompts (or models) on the left, filtered by name or tag; the selected
series' version history on the right, with the labels whose pairing uses each prompt version."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from promptver.tui.app import RegistryScreen
from promptver.tui.text import literal, one_line, when


def fetch_series(registry: Any, kind: str) -> list[dict[str, Any]]:
    """Every series of ``kind`` with the tags of its latest version (for the filter)."""
    entries = []
    for entry in registry.series(kind):
        latest = registry.latest(kind, entry["name"])
        entries.append({**entry, "tags": latest.all_tags() if latest is not None else []})
    return entries


def labels_by_version(registry: Any, prompt: str) -> dict[int, list[str]]:
    """prompt version number -> ["production->support-llm/2", ...] for the labels pointing at it."""
    drawn: dict[int, list[str]] = {}
    for label, event in sorted(registry.current_labels(prompt).items()):
        pairing = registry.pairing(event.pairing_id)
        drawn.setdefault(pairing.prompt.version, []).append(f"{label}->{pairing.model.ref}")
    return drawn


def fetch_history(registry: Any, kind: str, name: str) -> tuple[list[Any], dict[int, list[str]]]:
    versions = registry.log(kind, name)
    return versions, (labels_by_version(registry, name) if kind == "prompt" else {})


def matches(entry: dict[str, Any], query: str) -> bool:
    """A filter matches a series when it is part of its name or of one of its tags (``#tag`` too)."""
    query = query.strip().lower()
    if not query:
        return True
    if query.startswith("#"):
        return any(query[1:] in tag.lower() for tag in entry["tags"])
    return query in entry["name"].lower() or any(query in tag.lower() for tag in entry["tags"])


class BrowseScreen(RegistryScreen, Screen[None]):
    AUTO_FOCUS = "#series"  # not the filter: its Input would take the letter keys
    DEFAULT_CSS = """
    BrowseScreen #left { width: 26; border-right: solid $primary; }
    BrowseScreen #series-kind, BrowseScreen #history-title { height: 1; text-style: bold; padding: 0 1; }
    BrowseScreen #filter { height: 3; }
    BrowseScreen #series { height: 1fr; }
    BrowseScreen #versions { height: 1fr; }
    BrowseScreen #detail { height: 4; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("m", "toggle_kind", "Prompts/models", show=False),  # the footer fits 80 columns;
        Binding("e", "edit", "Edit"),                                # `?` lists every key
        Binding("d", "diff", "Diff"),
        Binding("l", "release", "Release"),
        Binding("p", "pair", "Pair with a model", show=False),
        Binding("b", "rollback", "Rollback", show=False),
        Binding("v", "evals", "Evals"),
        Binding("a", "attribution", "Attribution"),
        Binding("r", "reload", "Reload", show=False),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.kind = "prompt"
        self.entries: list[dict[str, Any]] = []
        self.name_shown: str | None = None  # the series whose history is on the right
        self.wanted: str | None = None  # the series asked for last (its history may still be loading)
        self.versions: list[Any] = []
        self.labels: dict[int, list[str]] = {}
        self._select_after_load: int | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="left"):
                yield Static("Prompts", id="series-kind")
                yield Input(placeholder="name or #tag", id="filter")
                yield DataTable(id="series", cursor_type="row", zebra_stripes=True)
            with Vertical(id="right"):
                yield Static("", id="history-title")
                yield DataTable(id="versions", cursor_type="row", zebra_stripes=True)
                yield Static("", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        series = self.query_one("#series", DataTable)
        series.add_column("name", width=15)  # fixed widths: nothing to measure when 1,000 rows arrive
        series.add_column("latest", width=6)
        self._version_columns()
        self.load_series()
        self.query_one("#series", DataTable).focus()

    def _version_columns(self) -> None:
        table = self.query_one("#versions", DataTable)
        table.clear(columns=True)
        table.add_column("ver", width=4)
        table.add_column("author", width=8)
        table.add_column("created", width=11)
        table.add_column("labels" if self.kind == "prompt" else "model", width=14)
        table.add_column("message", width=40)  # fixed, like the others: the detail below shows it whole

    # -- loading --------------------------------------------------------------------------------
    def load_series(self) -> None:
        kind = self.kind
        self.app.background(lambda: fetch_series(self.registry, kind), self._show_series,  # type: ignore[attr-defined]
                            group="series")

    def _show_series(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.apply_filter()

    def apply_filter(self) -> None:
        query = self.query_one("#filter", Input).value
        table = self.query_one("#series", DataTable)
        shown = [e["name"] for e in self.entries if matches(e, query)]
        wanted = self.wanted if self.wanted in shown else (shown[0] if shown else None)
        with self.prevent(DataTable.RowHighlighted):
            table.clear()
            for entry in self.entries:
                if entry["name"] in shown:
                    table.add_row(literal(entry["name"]), Text(str(entry["latest"] or "")), key=entry["name"])
            if wanted is not None:
                table.move_cursor(row=shown.index(wanted))
        if wanted is None:
            self.wanted = None
            self._show_history(None, [], {})
        elif wanted != self.name_shown or wanted != self.wanted:
            self.load_history(wanted)

    def current_series(self) -> str | None:
        table = self.query_one("#series", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def load_history(self, name: str, select_version: int | None = None) -> None:
        kind = self.kind
        self.wanted = name
        self._select_after_load = select_version
        self.app.background(lambda: fetch_history(self.registry, kind, name),  # type: ignore[attr-defined]
                            lambda got: self._loaded_history(kind, name, *got), group="history")

    def _loaded_history(self, kind: str, name: str, versions: list[Any], labels: dict[int, list[str]]) -> None:
        if (kind, name) == (self.kind, self.wanted):  # else the user has moved on
            self._show_history(name, versions, labels)

    def _show_history(self, name: str | None, versions: list[Any], labels: dict[int, list[str]]) -> None:
        self.name_shown, self.versions, self.labels = name, versions, labels
        owner = next((e.get("owner") for e in self.entries if e["name"] == name), None)
        title = "" if name is None else f"{self.kind} {name}: {len(versions)} version(s)" + (
            f", owner {owner}" if owner else "")
        self.query_one("#history-title", Static).update(literal(title))
        table = self.query_one("#versions", DataTable)
        table.clear()
        for v in versions:
            fourth = ", ".join(labels.get(v.version, [])) if self.kind == "prompt" else v.model
            table.add_row(Text(f"v{v.version}"), literal(v.author), Text(when(v.created_at, short=True)), literal(fourth),
                          one_line(v.message), key=str(v.version))
        if self._select_after_load is not None:
            numbers = [v.version for v in versions]
            if self._select_after_load in numbers:
                table.move_cursor(row=numbers.index(self._select_after_load))
            self._select_after_load = None
        self._show_detail()

    def _show_detail(self) -> None:
        v = self.selected_version()
        detail = Text()
        if v is not None:
            detail.append_text(literal(f"{v.ref}  {v.content_hash[:12]}"))
            detail.append(f"  {when(v.created_at)} by ")
            detail.append_text(literal(v.author))
            if v.parent is not None:
                detail.append(f"  from v{v.parent}")
            if self.labels.get(v.version):
                detail.append_text(literal("  [" + ", ".join(self.labels[v.version]) + "]"))
            tags = v.all_tags()
            if tags:
                detail.append_text(literal("  " + " ".join(f"#{t}" for t in tags)))
            detail.append("\n")
            detail.append_text(literal(v.message or ""))
        self.query_one("#detail", Static).update(detail)

    def selected_version(self) -> Any:
        table = self.query_one("#versions", DataTable)
        if not self.versions or table.cursor_row is None or not 0 <= table.cursor_row < len(self.versions):
            return None
        return self.versions[table.cursor_row]

    # -- events ---------------------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "series":
            name = self.current_series()  # not the event's row: a newer move may have followed it
            if name is not None and name != self.wanted:
                self.load_history(name)
        elif event.data_table.id == "versions":
            self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "series":
            self.query_one("#versions", DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.apply_filter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one("#series", DataTable).focus()

    # -- actions --------------------------------------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_toggle_kind(self) -> None:
        self.kind = "model" if self.kind == "prompt" else "prompt"
        self.query_one("#series-kind", Static).update("Prompts" if self.kind == "prompt" else "Models")
        self.name_shown = self.wanted = None
        self._version_columns()
        self.load_series()

    def action_reload(self) -> None:
        self.load_series()
        if self.wanted is not None:
            self.load_history(self.wanted)

    def action_edit(self) -> None:
        from promptver.tui.editor import EditorScreen

        version = self.selected_version()
        if version is None:
            self.notify("select a version first", severity="warning")
            return
        if self.kind != "prompt":
            self.notify("only prompts can be edited here", severity="warning")
            return
        self.app.push_screen(EditorScreen(version), self._edited)

    def _edited(self, created: Any) -> None:
        if created is not None:
            self.load_series()
            self.load_history(created.name, select_version=created.version)

    def action_diff(self) -> None:
        from promptver.tui.diff_view import DiffScreen

        version = self.selected_version()
        if version is None or len(self.versions) < 2:
            self.notify("a diff needs two versions", severity="warning")
            return
        numbers = [v.version for v in self.versions]
        old = version.parent if version.parent in numbers else None
        if old is None:  # the first version: show what the next one changed
            old, new = version.version, min((n for n in numbers if n > version.version), default=numbers[1])
        else:
            new = version.version
        self.app.push_screen(DiffScreen(self.kind, self.versions, old, new))

    def action_release(self) -> None:
        """Move a label to a pairing of the highlighted prompt version (tui/release.py)."""
        from promptver.tui.release import ReleaseScreen

        version = self.selected_version()
        if version is None or self.kind != "prompt":
            self.notify("select a prompt version first", severity="warning")
            return
        self.app.push_screen(ReleaseScreen(version), self._released)

    def action_pair(self) -> None:
        """Pair the highlighted prompt version with a model version picked in a modal."""
        from promptver.tui.release_data import model_versions

        version = self.selected_version()
        if version is None or self.kind != "prompt":
            self.notify("select a prompt version first", severity="warning")
            return
        registry = self.registry
        self.app.background(lambda: (model_versions(registry), registry.pairings(version.name)),
                            lambda got: self._pick_model(version, *got), group="pair-models")

    def _pick_model(self, version: Any, models: list[Any], pairings: list[Any]) -> None:
        from promptver.tui.modals import ModelPickerModal

        paired = frozenset(p.model.ref for p in pairings if p.prompt.version == version.version)
        self.app.push_screen(ModelPickerModal(version.ref, models, paired),
                             lambda model: self._pair_with(version, model))

    def _pair_with(self, version: Any, model: Any) -> None:
        if model is None:
            return
        registry, prompt_ref, model_ref = self.registry, version.ref, model.ref
        self.app.background(lambda: registry.pair(prompt_ref, model_ref), self._paired, group="pair")

    def _paired(self, paired: Any) -> None:
        pairing = paired.pairing
        said = "paired" if paired.created else "already paired"
        self.notify(f"{said}: {pairing.prompt.ref} + {pairing.model.ref} ({pairing.id}); l releases it")

    def action_rollback(self) -> None:
        """Move a label back to a pairing from its history (tui/release.py)."""
        from promptver.tui.release import RollbackScreen

        if self.kind != "prompt" or self.name_shown is None:
            self.notify("select a prompt first", severity="warning")
            return
        self.app.push_screen(RollbackScreen(self.name_shown), self._released)

    def _released(self, moved: Any) -> None:
        if moved and self.wanted is not None:
            self.load_history(self.wanted)

    def action_evals(self) -> None:
        """Eval runs: the matrix, drill-down, a new run (tui/evals_view.py)."""
        from promptver.tui.evals_view import EvalsScreen

        self.app.push_screen(EvalsScreen())

    def action_attribution(self) -> None:
        """Stored attribution reports, and a new one (tui/attribution_view.py)."""
        from promptver.tui.attribution_view import AttributionScreen

        self.app.push_screen(AttributionScreen(self.name_shown if self.kind == "prompt" else None))
