"""Labels: append-only moves, history, label-at-time, rollback, conflicts."""

import threading
import time
from datetime import UTC, datetime

import pytest
from conftest import prompt_spec

from promptver.errors import InvalidValue, LabelConflict, NotFound
from promptver.services import labels


@pytest.fixture
def pairs(reg):
    reg.push_prompt(prompt_spec())
    reg.push_prompt(prompt_spec(system="v2 {{ company }}"))
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06")
    a = reg.pair("support-reply/1", "support-llm/1").pairing.id
    b = reg.pair("support-reply/2", "support-llm/1").pairing.id
    return a, b


def test_moves_append_events_and_resolve(reg, pairs):
    a, b = pairs
    e1, moved = labels.move(reg, "support-reply", "production", a, reason="launch")
    assert moved and (e1.seq, e1.pairing_id, e1.previous_pairing_id) == (1, a, None)
    e2, _ = labels.move(reg, "support-reply", "production", b, reason="new tone")
    assert (e2.seq, e2.previous_pairing_id) == (2, a)
    assert reg.resolve("support-reply@production").pairing.id == b
    same, moved = labels.move(reg, "support-reply", "production", b)
    assert not moved and same.seq == 2
    assert [e.pairing_id for e in reg.reader.label_history("support-reply", "production")] == [a, b]


def test_label_at_time(reg, pairs):
    a, b = pairs
    e1, _ = labels.move(reg, "support-reply", "production", a)
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    labels.move(reg, "support-reply", "production", b)
    assert reg.resolve("support-reply@production", at=between).pairing.id == a
    assert reg.resolve("support-reply@production").pairing.id == b
    with pytest.raises(NotFound, match="not set yet"):
        reg.resolve("support-reply@production", at=datetime(2020, 1, 1, tzinfo=UTC))


def test_rollback_and_remove(reg, pairs):
    a, b = pairs
    labels.move(reg, "support-reply", "production", a)
    labels.move(reg, "support-reply", "production", b)
    event, _ = labels.rollback(reg, "support-reply", "production", reason="bad answers")
    assert (event.seq, event.pairing_id, event.reason) == (3, a, "bad answers")
    event, _ = labels.rollback(reg, "support-reply", "production", to_seq=2)
    assert event.pairing_id == b
    removed, _ = labels.move(reg, "support-reply", "production", None, reason="pulled")
    assert removed.pairing_id is None
    with pytest.raises(NotFound, match="was removed"):
        reg.resolve("support-reply@production")
    with pytest.raises(InvalidValue, match="no event 9"):
        labels.rollback(reg, "support-reply", "production", to_seq=9)


def test_a_rollback_against_a_stale_head_is_refused_and_writes_nothing(reg, pairs):
    a, b = pairs
    labels.move(reg, "support-reply", "production", a)
    labels.move(reg, "support-reply", "production", b)
    seen = 2
    labels.move(reg, "support-reply", "production", a, reason="someone else")  # event 3, after we looked
    with pytest.raises(LabelConflict, match="was moved by tester"):
        reg.rollback("support-reply", "production", to_seq=2, expected_seq=seen)
    assert [e.seq for e in reg.label_history("support-reply", "production")] == [1, 2, 3]
    event, moved = reg.rollback("support-reply", "production", to_seq=2, expected_seq=3)
    assert moved and (event.seq, event.pairing_id) == (4, b)


def test_label_errors(reg, pairs):
    a, _ = pairs
    with pytest.raises(NotFound, match="no pairing"):
        labels.move(reg, "support-reply", "production", "abcdef123456")
    with pytest.raises(NotFound, match="no label 'staging'"):
        reg.resolve("support-reply@staging")
    with pytest.raises(InvalidValue, match="only been set once"):
        labels.move(reg, "support-reply", "canary", a)
        labels.rollback(reg, "support-reply", "canary")
    reg.push_prompt(prompt_spec(name="other"))
    with pytest.raises(InvalidValue, match="belongs to prompt support-reply"):
        labels.move(reg, "other", "production", a)


def test_stale_expectation_is_a_conflict(reg, pairs):
    a, b = pairs
    labels.move(reg, "support-reply", "production", a)
    with pytest.raises(LabelConflict, match="moved by tester"):
        labels.move(reg, "support-reply", "production", b, expected_seq=0)
    assert len(reg.reader.label_history("support-reply")) == 1


def test_two_concurrent_moves_one_loses_clearly(registry_url, pairs):
    """Both movers saw the label unset; exactly one wins, the other gets LabelConflict."""
    from promptver.services.registry import Registry

    a, b = pairs
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def mover(target: str, actor: str) -> None:
        with Registry.open(registry_url, actor=actor) as r:
            seen = labels.head(r, "support-reply", "production")
            barrier.wait()
            try:
                outcomes.append(labels.move(r, "support-reply", "production", target,
                                            expected_seq=seen.seq if seen else 0)[0])
            except LabelConflict as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=mover, args=(a, "alice")), threading.Thread(target=mover, args=(b, "bob"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conflicts = [o for o in outcomes if isinstance(o, LabelConflict)]
    assert len(conflicts) == 1 and len(outcomes) == 2
    with Registry.open(registry_url) as r:
        assert len(r.reader.label_history("support-reply", "production")) == 1


def test_event_times_never_go_backwards_within_a_label(reg, pairs, monkeypatch):
    """A mover whose clock is behind still records a time no earlier than the label's last event,
    so "the target at time T" agrees with the order of events."""
    from datetime import timedelta

    a, b = pairs
    first, _ = labels.move(reg, "support-reply", "production", a)
    skewed = first.created_at - timedelta(hours=1)
    monkeypatch.setattr(labels, "now", lambda: skewed)
    second, _ = labels.move(reg, "support-reply", "production", b)
    assert second.created_at >= first.created_at
    assert reg.resolve("support-reply@production", at=second.created_at).pairing.id == b
    with pytest.raises(NotFound, match="not set yet"):
        reg.resolve("support-reply@production", at=first.created_at - timedelta(microseconds=1))
