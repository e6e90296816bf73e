"""Releases: labels are append-only logs of events; moving, removing and rolling back append one.

Moves are compare-and-set: the caller says which event it saw as the label's head
(``expected_seq``; the CLI passes what it read before writing). If the head moved meanwhile, or a
concurrent mover took the same sequence number (a unique constraint), the loser gets
``LabelConflict`` naming who moved the label, and nothing is written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from promptver.core.refs import Ref, check_name, parse_ref
from promptver.core.secrets import refuse_secrets
from promptver.core.types import LabelEvent, iso
from promptver.errors import InvalidRef, InvalidValue, LabelConflict, NotFound
from promptver.services import access
from promptver.services.registry import Registry, audit, now

_UNSET = object()


def head(reg: Registry, prompt: str, label: str) -> LabelEvent | None:
    return reg.reader.label_event(prompt, label)


def move(reg: Registry, prompt: str, label: str, pairing_ref: str | None, *, reason: str = "",
         expected_seq: Any = _UNSET, action: str = "label.set", force: bool = False) -> tuple[LabelEvent, bool]:
    """Point ``label`` of ``prompt`` at a pairing (None removes it). Returns (event, moved?).

    ``force`` (admins, with a ``reason``): move a gated label past a refusing release gate; the event
    keeps the refusal (``gate_override``). A target this label pointed at before is a rollback: no
    gate (access.authorize_label_move); its audit event says so."""
    from promptver.storage import writes

    check_name(prompt, "prompt name")
    check_name(label, "label")
    refuse_secrets(reason, "reason", names=False)
    prompt_id = reg.reader.series_id("prompt", prompt)
    if prompt_id is None:
        raise NotFound(f"no prompt named {prompt!r}")
    target = None
    if pairing_ref is not None:
        target = _pairing_for(reg, prompt, pairing_ref)
    check = access.authorize_label_move(reg, prompt, label, target, force=force, reason=reason)
    current = head(reg, prompt, label)
    seen = (current.seq if current else 0) if expected_seq is _UNSET else (expected_seq or 0)
    if current is not None and current.seq == seen and current.pairing_id == (target.id if target else None):
        return current, False
    if current is None and target is None:
        raise NotFound(f"{prompt} has no label {label!r} to remove")

    def work(conn: Any) -> None:
        row = writes.label_head(conn, prompt_id, label)
        head_seq = row.seq if row else 0
        if head_seq != seen:
            raise _conflict(reg, prompt, label)
        # times never go backwards within a label (even across hosts with skewed clocks), so
        # "the target at time T" can use the time index and agrees with the sequence order
        created = max(now(), _aware(row.created_at)) if row else now()
        writes.insert_label_event(conn, prompt_id=prompt_id, label=label, seq=head_seq + 1,
                                  pairing_id=target.id if target else None,
                                  previous_pairing_id=row.pairing_id if row else None,
                                  actor=reg.actor, reason=reason, created_at=created,
                                  gate_override=check.gate_override)
        audit(conn, reg.actor, action, f"{prompt}@{label}", pairing=target.id if target else None,
              previous=row.pairing_id if row else None, reason=reason, **check.audit_details())

    reg.db.write(work, on_integrity=lambda exc: _conflict(reg, prompt, label)
                 if "label_events" in str(exc.orig) or "uq_label_events_seq" in str(exc.orig) else None)
    event = head(reg, prompt, label)
    assert event is not None
    return event, True


def rollback(reg: Registry, prompt: str, label: str, *, reason: str = "", to_seq: int | None = None,
             expected_seq: int | None = None) -> tuple[LabelEvent, bool]:
    """Move ``label`` back to the target it had before its latest move (or at event ``to_seq``).
    ``expected_seq``: the head event the caller saw; if the label moved since, LabelConflict."""
    history = reg.reader.label_history(prompt, label)
    if not history:
        raise NotFound(f"{prompt} has no label {label!r} to roll back")
    current = history[-1]
    if expected_seq is not None and current.seq != expected_seq:
        raise _conflict(reg, prompt, label)
    if to_seq is not None:
        chosen = next((e for e in history if e.seq == to_seq), None)
        if chosen is None:
            raise InvalidValue(f"label {label!r} of {prompt} has no event {to_seq} (it has 1..{current.seq})")
        target = chosen.pairing_id
    else:
        if len(history) < 2:
            raise InvalidValue(f"label {label!r} of {prompt} has only been set once: nothing to roll back to")
        target = current.previous_pairing_id
    return move(reg, prompt, label, target, reason=reason or f"rollback of event {current.seq}",
                expected_seq=current.seq, action="label.rollback")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _pairing_for(reg: Registry, prompt: str, ref: str) -> Any:
    parsed = parse_ref(ref)
    if parsed.name and parsed.version is None and not parsed.label and re.fullmatch(r"[0-9a-f]{4,12}", ref.strip()):
        parsed = Ref(pairing=ref.strip())  # hex-only ids such as "abcdef12cafe" read as names otherwise
    if parsed.label:
        found = reg.resolve(parsed).pairing
    elif parsed.pairing:
        found = reg.pairing(parsed.pairing)
    else:
        raise InvalidRef(f"a label points at a pairing: give a pairing id (from `promptver pair`), not {ref!r}")
    if found.prompt.name != prompt:
        raise InvalidValue(f"pairing {found.id} belongs to prompt {found.prompt.name}, not {prompt}")
    return found


def _conflict(reg: Registry, prompt: str, label: str) -> LabelConflict:
    latest = head(reg, prompt, label)
    who = f" by {latest.actor} at {iso(latest.created_at)} (now -> {latest.pairing_id})" if latest else ""
    return LabelConflict(f"label {label!r} of {prompt} was moved{who} while you were moving it; "
                         "nothing was written: check `promptver label history` and retry")
