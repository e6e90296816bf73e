"""The registry queries behind the release and rollback screens (no Textual here): a prompt's label
heads, the pairings a version can be released as, the model versions it can be paired with, what a
move would change, the latest eval result of a pairing, and the check that a label has not moved
since a screen read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promptver.core.diff import VersionDiff, diff_models, diff_prompts
from promptver.core.identity import pairing_id
from promptver.core.types import LabelEvent, ModelVersion, Pairing, PromptVersion


def label_heads(registry: Any, prompt: str) -> dict[str, LabelEvent]:
    """Each label of ``prompt`` with its latest event, removals included (``pairing_id`` None).

    The head's ``seq`` is what a compare-and-set move expects; a label without events expects 0."""
    heads: dict[str, LabelEvent] = {}
    for event in registry.label_history(prompt):
        if event.label not in heads or event.seq > heads[event.label].seq:
            heads[event.label] = event
    return heads


def expected_seq(heads: dict[str, LabelEvent], label: str) -> int:
    """The seq of ``label``'s head event, or 0 when the label was never set (services/labels.py)."""
    head = heads.get(label)
    return head.seq if head is not None else 0


@dataclass
class ReleaseContext:
    """What the release screen shows for one prompt version, read once when it opens."""

    pairings: list[Pairing]                   # the pairings of the version, newest first
    heads: dict[str, LabelEvent]              # every label of the prompt -> its latest event
    targets: dict[str, Pairing] = field(default_factory=dict)  # label -> the pairing it points at now


def release_context(registry: Any, version: Any) -> ReleaseContext:
    pairings = [p for p in registry.pairings(version.name) if p.prompt.version == version.version]
    heads = label_heads(registry, version.name)
    targets = {label: registry.pairing(event.pairing_id) for label, event in heads.items() if event.pairing_id}
    return ReleaseContext(pairings, heads, targets)


def model_versions(registry: Any) -> list[ModelVersion]:
    """Every model version a prompt version can be paired with: series by name, newest first in each."""
    return [version for entry in sorted(registry.series("model"), key=lambda e: e["name"])
            for version in registry.log("model", entry["name"])]


def planned_pairing(prompt: PromptVersion, model: ModelVersion) -> Pairing:
    """The pairing ``registry.pair(prompt, model)`` makes, before it is stored: its id is computed from
    the two versions (core/identity.py), so the screen can show its diff and look up its eval runs."""
    pid = pairing_id(prompt.content_hash, model.content_hash, prompt.name, prompt.version, model.name, model.version)
    return Pairing(pid, prompt, model, "", "", datetime.now().astimezone())


def pair_and_move(registry: Any, prompt_ref: str, model_ref: str, label: str, reason: str,
                  seen: int) -> tuple[Pairing, LabelEvent, bool]:
    """Pair the two versions (the same two: the same pairing, nothing new written), then move ``label``
    to that pairing, compare-and-set against head ``seen``. A refused move leaves the pairing, which
    is only a record that the two versions go together, and nothing else."""
    pairing = registry.pair(prompt_ref, model_ref).pairing
    event, moved = registry.move_label(pairing.prompt.name, label, pairing.id, reason=reason, expected_seq=seen)
    return pairing, event, moved


@dataclass(frozen=True)
class EvalSummary:
    """The latest eval run holding results for one pairing, and how that pairing did in it."""

    run_id: str
    suite: str
    created_at: datetime | None
    state: str | None
    results: int      # model calls of the pairing in the run
    errors: int       # calls that failed
    passed: int       # calls without an error whose every score passed

    @property
    def scored(self) -> int:
        return self.results - self.errors

    @property
    def rate(self) -> float | None:
        """The pass rate over the calls that returned (as the release gate counts it)."""
        return self.passed / self.scored if self.scored else None


LOCAL_ONLY = "local registry only"


def latest_eval(registry: Any, pairing_id: str) -> EvalSummary | str | None:
    """The latest run with results for ``pairing_id``; None when there is none; LOCAL_ONLY when the
    registry is a server's (eval results are read from the local database only)."""
    reader = getattr(registry, "reader", None)
    if reader is None:
        return LOCAL_ONLY
    from promptver.storage.eval_reader import EvalReader

    evals = EvalReader(reader)
    run_id = evals.latest_run_for(pairing_id)
    if run_id is None:
        return None
    run = evals.run(run_id) or {}
    return EvalSummary(run_id, run.get("suite", ""), run.get("created_at"), run.get("state"),
                       *evals.pairing_counts(run_id, pairing_id))


@dataclass(frozen=True)
class Change:
    """What moving a label from ``target`` (None: not set) to ``chosen`` changes."""

    chosen: Pairing
    target: Pairing | None
    prompt: VersionDiff | None = None
    model: VersionDiff | None = None

    @property
    def same(self) -> bool:
        return self.target is not None and self.target.id == self.chosen.id


def change(target: Pairing | None, chosen: Pairing) -> Change:
    if target is None:
        return Change(chosen, None)
    return Change(chosen, target, diff_prompts(target.prompt, chosen.prompt), diff_models(target.model, chosen.model))


def release_detail(registry: Any, target: Pairing | None, chosen: Pairing) -> tuple[Change, EvalSummary | str | None]:
    return change(target, chosen), latest_eval(registry, chosen.id)


@dataclass
class LabelLog:
    """One label's history (oldest first) with the pairings its events point at."""

    events: list[LabelEvent]
    pairings: dict[str, Pairing]

    @property
    def head(self) -> LabelEvent | None:
        return self.events[-1] if self.events else None


def label_log(registry: Any, prompt: str, label: str) -> LabelLog:
    events = sorted(registry.label_history(prompt, label), key=lambda e: e.seq)
    ids = {e.pairing_id for e in events if e.pairing_id}
    return LabelLog(events, {i: registry.pairing(i) for i in sorted(ids)})


def rollback_checked(registry: Any, prompt: str, label: str, seen: int, to_seq: int, reason: str) -> tuple[Any, bool]:
    """Roll ``label`` back to event ``to_seq`` unless it moved since the screen read head ``seen``
    (compare-and-set in the same write transaction as the move)."""
    return registry.rollback(prompt, label, reason=reason, to_seq=to_seq,  # type: ignore[no-any-return]
                             expected_seq=seen)
