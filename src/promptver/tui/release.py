"""The release and rollback screens: move a label of a prompt to a pairing of a version (with the
diff against the label's current target and the pairing's latest eval result), to a model version
picked there (the pairing is made on the way), or back to a pairing from the label's history. Every
move is one appended label event (services/labels.py); a refused or conflicting move writes no label
event and the screen stays open."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Select, Static
from textual.widgets.select import NoSelection

from promptver.core.types import LabelEvent, Pairing
from promptver.errors import LabelConflict
from promptver.tui.app import RegistryScreen
from promptver.tui.modals import ModelPickerModal, diff_text
from promptver.tui.release_data import (
    LOCAL_ONLY,
    Change,
    EvalSummary,
    LabelLog,
    ReleaseContext,
    expected_seq,
    label_heads,
    label_log,
    model_versions,
    pair_and_move,
    planned_pairing,
    release_context,
    release_detail,
    rollback_checked,
)
from promptver.tui.text import literal, one_line, when

NEW = " new"  # the label selector's "new label" entry: not a valid label name, so never a real one
PAIR = " pair"  # the pairing selector's "pair with a model version…" entry: never a pairing id
DEFAULT_LABEL = "production"


def pairing_text(pairing: Pairing) -> str:
    return f"{pairing.prompt.ref} + {pairing.model.ref} ({pairing.id})"


def event_text(event: LabelEvent, pairing: Pairing | None) -> Text:
    """"event #3 -> support-reply/2 + support-llm/1 (id) by ann at 2026-...: reason", literally."""
    out = Text(f"event #{event.seq} ")
    out.append_text(literal(f"-> {pairing_text(pairing)}" if pairing is not None else "removed the label"))
    out.append(" by ")
    out.append_text(literal(event.actor))
    out.append(f" at {when(event.created_at)}")
    if event.reason:
        out.append(": ")
        out.append_text(one_line(event.reason, 40))
    return out


def eval_text(summary: EvalSummary | str | None, pairing: Pairing) -> Text:
    if summary == LOCAL_ONLY:
        return Text("eval results: local registry only", style="dim")
    if not isinstance(summary, EvalSummary):
        return literal(f"eval: no eval run has results for pairing {pairing.id}", "dim")
    out = literal(f"eval: latest run {summary.run_id} ({summary.suite}, {when(summary.created_at)}"
                  f"{', ' + summary.state if summary.state else ''}): ")
    rate = summary.rate
    style = "dim" if rate is None else ("green" if rate == 1.0 else "yellow" if rate >= 0.8 else "red")
    share = f" ({rate:.0%})" if rate is not None else ""
    out.append(f"{summary.passed}/{summary.scored} passed{share}", style=style)
    if summary.errors:
        out.append(f", {summary.errors} of {summary.results} call(s) failed", style="red")
    return out


def change_text(change: Change, label: str) -> Text:
    """What the move changes: the prompt and model diffs against the current target."""
    if change.target is None:
        return literal(f"the label {label!r} is not set yet: releasing points it at {pairing_text(change.chosen)}")
    if change.same:
        return literal(f"no change: {label!r} already points at {pairing_text(change.chosen)}", "dim")
    out = Text()
    for kind, diff in (("prompt", change.prompt), ("model", change.model)):
        if diff is None:
            continue
        out.append_text(literal(f"{kind} {diff.old} -> {diff.new}\n", "bold"))
        out.append_text(diff_text(diff))
        out.append("\n")
    return out


class ReleaseScreen(RegistryScreen, Screen[bool]):
    """Moves a label of ``version``'s prompt to one of ``version``'s pairings, or to a model version
    picked here (ctrl+p, or the selector's last entry): that pairing is made when releasing.

    Dismissed with True when the label moved, False otherwise."""

    DEFAULT_CSS = """
    ReleaseScreen #release-title { height: 1; text-style: bold; padding: 0 1; }
    ReleaseScreen .row { height: 3; }
    ReleaseScreen .caption { width: 9; padding: 1 0 0 1; }
    ReleaseScreen #pairing, ReleaseScreen #label { width: 1fr; }
    ReleaseScreen #new-label { width: 26; }
    ReleaseScreen #target, ReleaseScreen #eval { height: auto; max-height: 2; padding: 0 1; }
    ReleaseScreen #release-diff { height: 1fr; border-top: solid $primary; padding: 0 1; }
    ReleaseScreen #reason { width: 1fr; }
    ReleaseScreen Button { width: auto; min-width: 10; }
    """
    BINDINGS = [
        Binding("ctrl+s", "confirm", "Release", priority=True),
        Binding("ctrl+p", "pick_model", "Pair a model", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, version: Any) -> None:
        super().__init__()
        self.version = version
        self.context: ReleaseContext | None = None
        self.planned: Pairing | None = None  # a picked model version's pairing, not stored yet
        self.shown_pairing: str | None = None  # the pairing chosen last (back to it when a pick is cancelled)
        self.wanted: tuple[str, str] | None = None  # (pairing id, label) whose detail is loading/shown
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static(literal(f"release {self.version.ref}: point a label at one of its pairings"),
                     id="release-title")
        with Horizontal(classes="row"):
            yield Static("pairing", classes="caption")
            yield Select[str]([], prompt="(loading)", id="pairing")
        with Horizontal(classes="row"):
            yield Static("label", classes="caption")
            yield Select[str]([], prompt="(loading)", id="label")
            yield Input(placeholder="new label name", id="new-label", disabled=True)
        yield Static("", id="target")
        yield Static("", id="eval")
        with VerticalScroll(id="release-diff"):
            yield Static("", id="release-diff-text")
        with Horizontal(classes="row"):
            yield Input(placeholder="reason (kept in the label's history)", id="reason")
            yield Button("Release", variant="primary", id="confirm")
            yield Button("Cancel", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pairing", Select).focus()
        self.load()

    # -- loading --------------------------------------------------------------------------------
    def load(self) -> None:
        registry, version = self.registry, self.version
        self.app.background(lambda: release_context(registry, version), self._loaded,  # type: ignore[attr-defined]
                            group="release-load")

    def _loaded(self, context: ReleaseContext) -> None:
        before_pairing, before_label = self._value("#pairing"), self._value("#label")
        self.context = context
        if self.planned is not None and self.planned.id in {p.id for p in context.pairings}:
            self.planned = None  # stored meanwhile (a release that paired, then was refused)
        ids = self._pairing_options()
        if ids:
            self._choose_pairing(before_pairing if before_pairing in ids else ids[0])
        else:
            self.query_one("#pairing", Select).prompt = "(no pairings)"
        labels = sorted(context.heads)
        label = self.query_one("#label", Select)
        label.set_options([(literal(name), name) for name in labels] + [(Text("new label…"), NEW)])
        label.value = (before_label if before_label in [*labels, NEW] else
                       DEFAULT_LABEL if DEFAULT_LABEL in labels else labels[0] if labels else NEW)
        new_label = self.query_one("#new-label", Input)
        if not labels and not new_label.value:
            new_label.value = DEFAULT_LABEL
        self._sync_new_label()
        self.refresh_detail()

    def _pairing_options(self) -> list[str]:
        """Fill the pairing selector: the version's pairings, the planned one, "pair with…"."""
        pairings = list(self.context.pairings) if self.context else []
        options = [(literal(f"{p.model.ref}  {p.id}"), p.id) for p in pairings]
        if self.planned is not None:
            options.append((literal(f"{self.planned.model.ref}  new pairing (made on release)"), self.planned.id))
        options.append((Text("pair with a model version…"), PAIR))
        self.query_one("#pairing", Select).set_options(options)
        return [value for _, value in options if value != PAIR]

    def _choose_pairing(self, pairing_id: str) -> None:
        self.shown_pairing = pairing_id
        self.query_one("#pairing", Select).value = pairing_id

    def _value(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return None if isinstance(value, NoSelection) or value is None else str(value)

    def chosen_pairing(self) -> Pairing | None:
        wanted = self._value("#pairing")
        if self.context is None or wanted is None or wanted == PAIR:
            return None
        known = [*self.context.pairings, *([self.planned] if self.planned is not None else [])]
        return next((p for p in known if p.id == wanted), None)

    def is_planned(self, pairing: Pairing) -> bool:
        """The pairing was picked here and is not stored yet."""
        return self.context is not None and pairing.id not in {p.id for p in self.context.pairings}

    # -- pairing a model version ----------------------------------------------------------------
    def action_pick_model(self) -> None:
        """Pick a model version (a modal over every model series' versions) to release this prompt
        version with; nothing is written until the release."""
        if self.context is None or self.busy:
            return
        registry = self.registry
        self.app.background(lambda: model_versions(registry), self._pick,  # type: ignore[attr-defined]
                            group="release-models", failed=self._pick_failed)

    def _pick(self, versions: list[Any]) -> None:
        paired = frozenset(p.model.ref for p in self.context.pairings) if self.context else frozenset()
        self.app.push_screen(ModelPickerModal(self.version.ref, versions, paired), self._picked)

    def _pick_failed(self, exc: BaseException) -> None:
        self._restore_pairing()
        self.app.show_error(exc, title="No model versions")  # type: ignore[attr-defined]

    def _picked(self, model: Any) -> None:
        if model is None or self.context is None:
            self._restore_pairing()
            return
        existing = next((p for p in self.context.pairings if p.model.ref == model.ref), None)
        if existing is not None:
            self._choose_pairing(existing.id)
            return
        self.planned = planned_pairing(self.version, model)
        self._pairing_options()
        self._choose_pairing(self.planned.id)
        self.query_one("#pairing", Select).focus()

    def _restore_pairing(self) -> None:
        select = self.query_one("#pairing", Select)
        if self.shown_pairing is not None and self._value("#pairing") != self.shown_pairing:
            select.value = self.shown_pairing
        elif self.shown_pairing is None and self._value("#pairing") == PAIR:
            select.clear()

    def chosen_label(self) -> str:
        value = self._value("#label")
        if value == NEW:
            return self.query_one("#new-label", Input).value.strip()
        return value or ""

    def _sync_new_label(self) -> None:
        self.query_one("#new-label", Input).disabled = self._value("#label") != NEW

    # -- what the move changes ------------------------------------------------------------------
    def refresh_detail(self) -> None:
        context = self.context
        if context is None:
            return
        target_line = self.query_one("#target", Static)
        diff = self.query_one("#release-diff-text", Static)
        evals = self.query_one("#eval", Static)
        pairing, label = self.chosen_pairing(), self.chosen_label()
        if pairing is None:
            self.wanted = None
            target_line.update(literal(f"{self.version.ref} has no pairings: pair it with a model first "
                                       "(ctrl+p picks a model version)", "yellow"))
            evals.update("")
            diff.update("")
            return
        head = context.heads.get(label)
        target = context.targets.get(label)
        if not label:
            line = Text("type the name of the new label", style="yellow")
        elif head is None:
            line = literal(f"{label}: the label is not set yet")
        elif target is None:
            line = literal(f"{label}: not set (event #{head.seq} removed it)")
        else:
            line = literal(f"{label} now: ")
            line.append_text(event_text(head, target))
        target_line.update(line)
        key = (pairing.id, label)
        if key == self.wanted:
            return
        self.wanted = key
        registry = self.registry
        self.app.background(lambda: release_detail(registry, target, pairing),  # type: ignore[attr-defined]
                            lambda got: self._show_detail(key, *got), group="release-detail")

    def _show_detail(self, key: tuple[str, str], change: Change, summary: EvalSummary | str | None) -> None:
        if key != self.wanted:  # the user chose something else meanwhile
            return
        label = key[1]
        self.query_one("#eval", Static).update(eval_text(summary, change.chosen))
        shown = Text()
        if self.is_planned(change.chosen):
            shown.append_text(literal(f"new pairing {pairing_text(change.chosen)}: stored when you release\n",
                                      "bold green"))
        if label:
            shown.append_text(change_text(change, label))
        self.query_one("#release-diff-text", Static).update(shown)

    # -- events ---------------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "label":
            self._sync_new_label()
            if self._value("#label") == NEW:
                self.query_one("#new-label", Input).focus()
        elif event.select.id == "pairing":
            value = self._value("#pairing")
            if value == PAIR:
                self.action_pick_model()
                return
            if value is not None:
                self.shown_pairing = value
        self.refresh_detail()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "new-label":
            self.refresh_detail()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "new-label":
            self.query_one("#reason", Input).focus()
        elif event.input.id == "reason":
            self.query_one("#confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.action_confirm()
        elif event.button.id == "cancel":
            self.action_cancel()

    # -- releasing ------------------------------------------------------------------------------
    def action_confirm(self) -> None:
        context = self.context
        if self.busy or context is None:
            return
        pairing, label = self.chosen_pairing(), self.chosen_label()
        if pairing is None:
            self.notify("there is no pairing to release", severity="warning")
            return
        if not label:
            self.notify("type the name of the new label", severity="warning")
            return
        target = context.targets.get(label)
        if target is not None and target.id == pairing.id:
            self.notify(f"{label} already points at this pairing: nothing to release", severity="warning")
            return
        prompt, seen = self.version.name, expected_seq(context.heads, label)
        reason = self.query_one("#reason", Input).value.strip()
        registry = self.registry
        self.busy = True
        if self.is_planned(pairing):  # pair on the way, then the same compare-and-set move
            prompt_ref, model_ref = self.version.ref, pairing.model.ref
            self.app.background(  # type: ignore[attr-defined]
                lambda: pair_and_move(registry, prompt_ref, model_ref, label, reason, seen),
                lambda got: self._moved(label, *got), group="release-move", failed=self._failed)
            return
        self.app.background(  # type: ignore[attr-defined]
            lambda: registry.move_label(prompt, label, pairing.id, reason=reason, expected_seq=seen),
            lambda got: self._moved(label, pairing, *got), group="release-move", failed=self._failed)

    def _moved(self, label: str, pairing: Pairing, event: LabelEvent, moved: bool) -> None:
        self.busy = False
        if moved:
            self.app.notify(f"{self.version.name}@{label} -> {pairing_text(pairing)} (event #{event.seq})")
        else:
            self.app.notify(f"{label} already pointed at this pairing: nothing written", severity="warning")
        self.dismiss(moved)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self.app.show_error(exc, title="Not released")  # type: ignore[attr-defined]
        chosen = self.chosen_pairing()
        # a conflict: show the label where it is now (a retry expects that head); a planned pairing
        # may have been stored before the move was refused: reload to show it as a pairing
        if isinstance(exc, LabelConflict) or (chosen is not None and self.is_planned(chosen)):
            self.wanted = None
            self.load()

    def action_cancel(self) -> None:
        self.dismiss(False)


class RollbackScreen(RegistryScreen, Screen[bool]):
    """Moves a label of ``prompt`` back to the pairing of an earlier event of its history.

    Dismissed with True when the label moved, False otherwise."""

    DEFAULT_CSS = """
    RollbackScreen #rollback-title { height: 1; text-style: bold; padding: 0 1; }
    RollbackScreen .row { height: 3; }
    RollbackScreen .caption { width: 9; padding: 1 0 0 1; }
    RollbackScreen #rb-label { width: 1fr; }
    RollbackScreen #rb-current, RollbackScreen #rb-chosen { height: auto; max-height: 2; padding: 0 1; }
    RollbackScreen #rb-history { height: 1fr; }
    RollbackScreen #rb-reason { width: 1fr; }
    RollbackScreen Button { width: auto; min-width: 10; }
    """
    BINDINGS = [
        Binding("ctrl+s", "confirm", "Roll back", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt
        self.heads: dict[str, LabelEvent] | None = None
        self.label: str | None = None       # the label asked for last
        self.history: LabelLog | None = None    # its history, once loaded
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static(literal(f"rollback {self.prompt}: point a label back at an earlier pairing"),
                     id="rollback-title")
        with Horizontal(classes="row"):
            yield Static("label", classes="caption")
            yield Select[str]([], prompt="(loading)", id="rb-label")
        yield Static("", id="rb-current")
        yield DataTable(id="rb-history", cursor_type="row", zebra_stripes=True)
        yield Static("", id="rb-chosen")
        with Horizontal(classes="row"):
            yield Input(placeholder="reason (default: rollback of event N)", id="rb-reason")
            yield Button("Roll back", variant="warning", id="confirm")
            yield Button("Cancel", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#rb-history", DataTable)
        table.add_column("#", width=4)
        table.add_column("when", width=11)
        table.add_column("prompt", width=16)
        table.add_column("model", width=14)
        table.add_column("by", width=8)
        table.add_column("reason")
        table.focus()
        self.load()

    # -- loading --------------------------------------------------------------------------------
    def load(self) -> None:
        registry, prompt = self.registry, self.prompt
        self.app.background(lambda: label_heads(registry, prompt), self._loaded,  # type: ignore[attr-defined]
                            group="rollback-load")

    def _loaded(self, heads: dict[str, LabelEvent]) -> None:
        self.heads = heads
        labels = sorted(heads)
        select = self.query_one("#rb-label", Select)
        if not labels:
            select.prompt = "(no labels)"
            self.query_one("#rb-current", Static).update(
                literal(f"{self.prompt} has no labels: nothing to roll back", "yellow"))
            return
        wanted = self.label if self.label in labels else DEFAULT_LABEL if DEFAULT_LABEL in labels else labels[0]
        select.set_options([(literal(name), name) for name in labels])
        select.value = wanted
        self.load_log(wanted)

    def load_log(self, label: str) -> None:
        registry, prompt = self.registry, self.prompt
        self.label = label
        self.app.background(lambda: label_log(registry, prompt, label),  # type: ignore[attr-defined]
                            lambda log: self._show_log(label, log), group="rollback-log")

    def _show_log(self, label: str, log: LabelLog) -> None:
        if label != self.label:
            return
        self.history = log
        head = log.head
        current = self.query_one("#rb-current", Static)
        if head is None:
            current.update(literal(f"{label}: no history"))
        else:
            line = literal(f"{label} now (*): ")
            line.append_text(event_text(head, log.pairings.get(head.pairing_id or "")))
            current.update(line)
        table = self.query_one("#rb-history", DataTable)
        table.clear()
        for event in reversed(log.events):
            pairing = log.pairings.get(event.pairing_id or "")
            mark = "*" if head is not None and event.seq == head.seq else ""
            table.add_row(Text(f"{event.seq}{mark}"), Text(when(event.created_at, short=True)),
                          literal(pairing.prompt.ref if pairing else "(removed)"),
                          literal(pairing.model.ref if pairing else ""), literal(event.actor),
                          one_line(event.reason), key=str(event.seq))
        if table.row_count > 1:
            table.move_cursor(row=1)  # the event before the current one: the usual rollback
        self._show_chosen()

    # -- choosing -------------------------------------------------------------------------------
    def chosen_event(self) -> LabelEvent | None:
        table = self.query_one("#rb-history", DataTable)
        if self.history is None or not table.row_count or table.cursor_row is None:
            return None
        events = list(reversed(self.history.events))
        return events[table.cursor_row] if 0 <= table.cursor_row < len(events) else None

    def refusal(self, event: LabelEvent | None) -> str:
        """Why the highlighted event cannot be rolled back to ("" when it can)."""
        head = self.history.head if self.history is not None else None
        if event is None or head is None:
            return "pick an event of the label's history"
        if event.seq == head.seq:
            return f"event #{event.seq} is the label's current target: pick an earlier event"
        if event.pairing_id is None:
            return f"event #{event.seq} removed the label: pick an event that set a pairing"
        if event.pairing_id == head.pairing_id:
            return f"event #{event.seq} points at the current pairing: nothing would change"
        return ""

    def _show_chosen(self) -> None:
        event = self.chosen_event()
        why = self.refusal(event)
        shown = self.query_one("#rb-chosen", Static)
        if why or event is None or self.history is None:
            shown.update(literal(why, "yellow"))
            return
        line = Text("roll back to ", style="bold")
        line.append_text(event_text(event, self.history.pairings.get(event.pairing_id or "")))
        shown.update(line)

    # -- events ---------------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "rb-label" and not isinstance(event.value, NoSelection) and event.value is not None:
            if str(event.value) != self.label:
                self.history = None
                self.load_log(str(event.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_chosen()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.query_one("#rb-reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "rb-reason":
            self.query_one("#confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.action_confirm()
        elif event.button.id == "cancel":
            self.action_cancel()

    # -- rolling back ---------------------------------------------------------------------------
    def action_confirm(self) -> None:
        if self.busy or self.history is None or self.label is None:
            return
        event = self.chosen_event()
        why = self.refusal(event)
        if why or event is None or self.history.head is None:
            self.notify(why, severity="warning")
            return
        prompt, label, seen, to_seq = self.prompt, self.label, self.history.head.seq, event.seq
        reason = self.query_one("#rb-reason", Input).value.strip()
        registry = self.registry
        self.busy = True
        self.app.background(  # type: ignore[attr-defined]
            lambda: rollback_checked(registry, prompt, label, seen, to_seq, reason),
            lambda got: self._rolled(label, *got), group="rollback-move", failed=self._failed)

    def _rolled(self, label: str, event: LabelEvent, moved: bool) -> None:
        self.busy = False
        if moved:
            self.app.notify(f"{self.prompt}@{label} rolled back (event #{event.seq})")
        else:
            self.app.notify("nothing changed", severity="warning")
        self.dismiss(moved)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self.app.show_error(exc, title="Not rolled back")  # type: ignore[attr-defined]
        if isinstance(exc, LabelConflict) and self.label is not None:
            self.load_log(self.label)

    def action_cancel(self) -> None:
        self.dismiss(False)
