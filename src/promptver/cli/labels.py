"""`promptver label ...` and `promptver rollback`: releases through append-only label events."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from promptver.cli.common import registry
from promptver.cli.output import emit_json, out, safe, table, when
from promptver.errors import InvalidValue

app = typer.Typer(help="Labels: point production or staging at a pairing; every move is kept.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _moved(event: object, moved: bool, as_json: bool) -> None:
    if as_json:
        emit_json({"moved": moved, **event.to_json()})  # type: ignore[attr-defined]
        return
    e = event  # type: ignore[assignment]
    if not moved:
        target = f"points at {e.pairing_id}" if e.pairing_id else "is removed"
        out(f"{e.prompt}@{e.label} already {target}; nothing changed")
    elif e.pairing_id is None:
        out(f"{e.prompt}@{e.label} removed (was {e.previous_pairing_id}) [event {e.seq}]")
    else:
        out(f"{e.prompt}@{e.label} -> {e.pairing_id} (was {e.previous_pairing_id or 'unset'}) [event {e.seq}]")
    if moved and getattr(e, "gate_override", None):
        out(_forced(e))


def _forced(e: object) -> str:
    return f"forced past the release gate by {safe(e.actor)}: {safe(e.gate_override)}"  # type: ignore[attr-defined]


@app.command("set")
def set_(
    prompt: Annotated[str, typer.Argument(help="Prompt name.")],
    label: Annotated[str, typer.Argument(help="Label, e.g. production.")],
    pairing: Annotated[str, typer.Argument(help="Pairing id (from `promptver pair`) or NAME@OTHER_LABEL.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the label's history).")] = "",
    force: Annotated[bool, typer.Option("--force", help="Admins: release past a refusing release gate "
                                        "(needs --reason; the refusal is kept in the label's history).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Point a label at a pairing (appends an event; the previous target is kept)."""
    if force and not reason.strip():
        raise InvalidValue("--force needs --reason: say why the release gate is overridden "
                           "(it is kept in the label's history and the audit log)")
    with registry() as reg:
        event, moved = reg.move_label(prompt, label, pairing, reason=reason, force=force)
    _moved(event, moved, as_json)


@app.command("remove")
def remove(
    prompt: Annotated[str, typer.Argument(help="Prompt name.")],
    label: Annotated[str, typer.Argument(help="Label.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Unset a label (appends an event pointing at nothing)."""
    with registry() as reg:
        event, moved = reg.move_label(prompt, label, None, reason=reason)
    _moved(event, moved, as_json)


@app.command("list")
def list_(prompt: Annotated[str, typer.Argument(help="Prompt name.")], as_json: JsonOpt = False) -> None:
    """The current labels of a prompt."""
    with registry() as reg:
        current = dict(sorted(reg.current_labels(prompt).items()))
        pairs = {k: reg.pairing(v.pairing_id) for k, v in current.items()}  # type: ignore[arg-type]
    if as_json:
        emit_json({k: {**v.to_json(), "prompt_version": pairs[k].prompt.ref, "model_version": pairs[k].model.ref}
                   for k, v in current.items()})
        return
    table(["label", "pairing", "prompt", "model", "since", "by"],
          [[k, v.pairing_id or "", pairs[k].prompt.ref, pairs[k].model.ref, when(v.created_at), v.actor]
           for k, v in current.items()])


@app.command("history")
def history(
    prompt: Annotated[str, typer.Argument(help="Prompt name.")],
    label: Annotated[Optional[str], typer.Argument(help="Only this label.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every move of a prompt's labels, oldest first."""
    with registry() as reg:
        events = reg.label_history(prompt, label)
    if as_json:
        emit_json([e.to_json() for e in events])
        return
    table(["when", "label", "event", "target", "previous", "by", "reason"],
          [[when(e.created_at), e.label, str(e.seq), e.pairing_id or "(removed)", e.previous_pairing_id or "-",
            e.actor, safe(e.reason)] for e in events])
    for e in events:
        if e.gate_override:
            out(f"{e.label} event {e.seq}: {_forced(e)}")


def register(root: typer.Typer) -> None:
    @root.command("rollback")
    def rollback(
        prompt: Annotated[str, typer.Argument(help="Prompt name.")],
        label: Annotated[str, typer.Argument(help="Label to roll back.")],
        reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
        to: Annotated[Optional[int], typer.Option("--to", help="Go to the target of this event number instead.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Move a label back to where it pointed before its latest move (a new event)."""
        with registry() as reg:
            event, moved = reg.rollback(prompt, label, reason=reason, to_seq=to)
        _moved(event, moved, as_json)
