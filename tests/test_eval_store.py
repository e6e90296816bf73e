"""Saving eval runs: the plain-SQL write path stores what the SQLAlchemy path would, and a locked or
full database stops a run with one clear message (exit 3), whole batches only, resumable."""

import json
import sqlite3
from datetime import UTC, datetime

import pytest
from conftest import write_suite

pytestmark = pytest.mark.usefixtures("fast_retries")
CASES = 45


def _rows(reg, run_id):
    """Everything stored for a run, ids, the run id and chain positions left out, in a comparable form."""
    from promptver.storage.eval_reader import EvalReader

    ev = EvalReader(reg.reader)
    run = ev.run(run_id)
    chain = ("chain_seq", "chain_hash")  # each row's place in its table's hash chain differs
    run = {k: v for k, v in run.items() if k not in ("id", *chain)}
    results = [{k: v for k, v in r.items() if k not in ("id", "run_id", *chain)} for r in ev.results(run_id)]
    scores = [{k: v for k, v in s.items() if k not in ("id", "run_id", "result_id", *chain)} for s in reg.reader.rows(
        "SELECT * FROM eval_scores WHERE run_id = :id ORDER BY id", id=run_id)]
    events = [{k: v for k, v in e.items() if k not in ("id", "run_id", *chain)} for e in reg.reader.rows(
        "SELECT * FROM eval_run_events WHERE run_id = :id ORDER BY id", id=run_id)]
    return run, results, scores, events


def test_the_plain_write_path_stores_what_the_sqlalchemy_path_stores(reg):
    from promptver.services import datasets
    from promptver.storage import eval_writes, writes

    version, _ = datasets.push(reg, "d", [{"id": "c1", "vars": {}}], "0" * 64)
    when = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC)
    pairing = reg.pair(*_pushed(reg)).pairing.id
    result = dict(pairing_id=pairing, case_id="c1", repeat=0, attempt=1, request_key="k" * 64, output="héllo\n",
                  latency_ms=12.5, prompt_tokens=3, completion_tokens=None, cost_usd=0.0001, cached=True,
                  error=None, error_kind=None, response_model="m-2024", system_fingerprint="fp", created_at=when)
    run = dict(suite="s", suite_hash="h" * 64, kind="bisect", suite_content_hash="c" * 64, dataset_version_id=version.id, plan={"calls": 1, "nested": [1, "x"]},
               environment={"python": "3.11"}, actor="tester", created_at=when)
    score = dict(scorer="contains", scorer_version="v" * 64, value=1.0, passed=True, detail="ok")

    def through_sqlalchemy(conn):
        writes.insert_run(conn, id="a" * 16, **run)
        writes.insert_run_event(conn, run_id="a" * 16, state="running", details={"todo": 1}, created_at=when)
        rid = writes.insert_result(conn, run_id="a" * 16, **result)
        writes.insert_scores(conn, [{"run_id": "a" * 16, "result_id": rid, **score}])
        writes.cache_responses(conn, [{"key": "r1", "response": {"output": "x", "n": None}, "created_at": when}])

    def through_plain(tx):
        eval_writes.insert_run(tx, id="b" * 16, **run)
        eval_writes.insert_run_event(tx, run_id="b" * 16, state="running", details={"todo": 1}, created_at=when)
        rid = eval_writes.insert_result(tx, run_id="b" * 16, **result)
        eval_writes.insert_scores(tx, [{"run_id": "b" * 16, "result_id": rid, **score}])
        eval_writes.cache_responses(tx, [{"key": "r2", "response": {"output": "x", "n": None}, "created_at": when}])

    reg.db.write(through_sqlalchemy)
    reg.db.write_plain(through_plain)
    assert _rows(reg, "a" * 16) == _rows(reg, "b" * 16)
    assert _rows(reg, "b" * 16)[0]["created_at"] == when
    from promptver.storage.eval_reader import EvalReader

    ev = EvalReader(reg.reader)
    assert ev.cached_response("r1") == ev.cached_response("r2") == {"output": "x", "n": None}


def test_cache_rows_already_stored_are_left_alone(reg):
    from promptver.storage import eval_writes
    from promptver.storage.eval_reader import EvalReader

    when = datetime.now(UTC)
    rows = [{"key": f"k{i}", "value": 1.0, "passed": True, "detail": "first", "created_at": when} for i in range(600)]
    reg.db.write_plain(lambda tx: eval_writes.cache_scores(tx, rows))
    again = [{**r, "detail": "second"} for r in rows] + [{"key": "new", "value": 0.0, "passed": False, "detail": "",
                                                          "created_at": when}]
    reg.db.write_plain(lambda tx: eval_writes.cache_scores(tx, again))  # more keys than one IN (...) list holds
    ev = EvalReader(reg.reader)
    assert ev.cached_score("k599")["detail"] == "first" and ev.cached_score("new")["passed"] in (False, 0)
    assert reg.reader.scalar("SELECT COUNT(*) FROM score_cache") == 601


def _pushed(reg):
    from conftest import prompt_spec
    from promptver.templates.specs import ModelSpec

    reg.push_prompt(prompt_spec())
    reg.push_model(ModelSpec(name="m", model="promptver/echo"))
    return "support-reply/1", "m/1"


@pytest.fixture
def many_cases(example, monkeypatch):
    """The worked example with 45 cases, saved in batches of 10."""
    monkeypatch.setattr("promptver.evals.runner.FLUSH_EVERY", 10)
    with (example.project / "evals" / "many.jsonl").open("w") as out:
        for i in range(CASES):
            out.write(json.dumps({"id": f"c{i:02d}", "vars": {"company": "Acme", "question": f"order {i}?"},
                                  "expected": "order"}) + "\n")
    example.suite = write_suite(example.project, "dataset: many.jsonl\nprompts: [support-reply/1]\n"
                                                 "models: [support-llm/1]\nscorers: [{type: contains}]\n")
    return example


def _stop_on_save(monkeypatch, number, before):
    """Make the ``number``-th batch save (only that one) meet ``before()`` first: another process's
    lock, a full disk."""
    from promptver.evals.store import RunStore

    original, calls = RunStore.save, []

    def save(self, outcomes):
        calls.append(len(outcomes))
        if len(calls) == number:
            before(self)
        return original(self, outcomes)

    monkeypatch.setattr(RunStore, "save", save)
    return calls


def _check_stopped_then_resume(cli, result, fragment, batches):
    assert result.code == 3, result.stderr
    announced, error = result.stderr.splitlines()
    assert result.stdout == "" and announced.startswith("45 calls to make") and "Traceback" not in result.stderr
    assert error.startswith(f"error: {fragment}"), error
    run_id = error.split("--resume ")[1].split("`")[0]
    saved = batches[0]  # the batch before the failing one: whole batches, nothing half-written
    assert 0 < saved < CASES and f"Run {run_id} stopped; {saved} results saved before it stay saved" in error
    shown = json.loads(cli("eval", "show", run_id, "--json").stdout)
    assert shown["results"] == saved and shown["state"] in ("failed", "running")
    assert cli("verify").code == 0
    resumed = cli("eval", cli.suite, "--resume", run_id, "--json")
    report = json.loads(resumed.stdout)
    assert resumed.code == 0 and (report["run"], report["results"], report["state"]) == (run_id, CASES, "completed")
    rows = cli("eval", "show", run_id, "--json")
    assert json.loads(rows.stdout)["results"] == CASES


def test_a_full_database_mid_run_stops_with_a_clear_message_and_the_run_resumes(many_cases, monkeypatch):
    def fill_up(store):  # SQLite's page limit: this connection cannot grow the file any further
        conn = store.reg.db._plain._connection()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    batches = _stop_on_save(monkeypatch, 2, fill_up)
    result = many_cases("eval", many_cases.suite)
    # the page limit was that connection's: the next process has room again
    _check_stopped_then_resume(many_cases, result, "disk full: the registry database cannot grow (database or disk "
                                                   "is full)", batches)


def test_a_database_locked_mid_run_stops_with_a_clear_message_and_the_run_resumes(many_cases, monkeypatch):
    monkeypatch.setenv("PROMPTVER_BUSY_TIMEOUT_MS", "100")
    holders = []

    def lock(store):  # another process takes the write lock and keeps it
        holder = sqlite3.connect(many_cases.project / ".promptver" / "registry.db", isolation_level=None,
                                 check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        holders.append(holder)

    batches = _stop_on_save(monkeypatch, 2, lock)
    try:
        result = many_cases("eval", many_cases.suite)
    finally:
        for holder in holders:
            holder.execute("ROLLBACK")
            holder.close()
    _check_stopped_then_resume(many_cases, result, "the registry database stayed busy through 2 attempts", batches)
