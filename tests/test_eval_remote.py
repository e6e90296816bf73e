"""`promptver eval` through a server (issue 11): with PROMPTVER_URL and a token, the calls are made where
the command runs, the run is stored on the server under the token's identity, `eval list` / `eval
show` print what they print on the server's database, and the release gate sees the run."""

import json

import pytest
from conftest import write_suite
from openai_stub import DUMMY_KEY, OpenAIStub
from server_fixture import running_server

from promptver.storage.eval_reader import EvalReader

pytestmark = pytest.mark.usefixtures("fast_retries")

CASES = [{"id": "refund", "vars": {"company": "Acme", "question": "where is my order?"}, "expected": "order"},
         {"id": "hours", "vars": {"company": "Acme", "question": "when do you open?"}, "expected": "open"},
         {"id": "rude", "vars": {"company": "Acme", "question": "why?"}, "expected": "sorry"}]
SUITE = "dataset: cases.jsonl\nprompts: [support-reply/1, support-reply/2]\nmodels: [support-llm/1]\n" \
        "scorers: [{type: contains}]\nmin_pass_rate: 0.5\n"


@pytest.fixture
def server(registry_url):
    with running_server(registry_url) as srv:  # started before the stub: the server knows no model endpoint
        yield srv


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    with OpenAIStub(answer=lambda r: "your order will open soon") as running:
        monkeypatch.setenv("OPENAI_BASE_URL", running.url)
        yield running


@pytest.fixture
def remote(cli, server, monkeypatch):
    """`promptver ARGS` as WHO through the server; ``remote.local(ARGS)``: on the server's database itself."""
    (cli.project / "evals").mkdir()
    (cli.project / "evals" / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    write_suite(cli.project, SUITE)

    def run(who, *args):
        monkeypatch.delenv("PROMPTVER_DB", raising=False)
        monkeypatch.setenv("PROMPTVER_URL", server.url)
        monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens[who])
        return cli(*args)

    def local(*args):
        monkeypatch.delenv("PROMPTVER_URL", raising=False)
        monkeypatch.delenv("PROMPTVER_TOKEN", raising=False)
        monkeypatch.setenv("PROMPTVER_DB", server.db_url)
        return cli(*args)

    run.local, run.project = local, cli.project
    return run


def _stored(server):
    from promptver.services.registry import Registry

    with Registry.open(server.db_url, actor="t") as reg:
        reader = EvalReader(reg.reader)
        runs = reader.runs()
        return runs, {r["id"]: reader.all_attempts(r["id"]) for r in runs}, \
            reg.reader.rows("SELECT d.name FROM datasets d")


def test_an_editor_runs_a_suite_through_the_server(remote, server, stub, monkeypatch):
    monkeypatch.setattr("promptver.evals.remote_store.BODY_BUDGET", 1500)  # a few results per request
    ran = remote("editor", "eval", "evals/s.yaml", "--json")
    assert ran.code == 0, ran.stderr  # "rude" fails its contains in both cells: 2 of 3 pass, min_pass_rate 50%
    report = json.loads(ran.stdout)
    assert "6 calls to make (0 already done): 0 from the cache, 6 to the models" in ran.stderr
    assert len(stub.requests) == 6  # made here (the server process never knew the stub's address)
    assert {r.headers["authorization"] for r in stub.requests} == {f"Bearer {DUMMY_KEY}"}
    runs, results, datasets = _stored(server)
    assert [(r["id"], r["actor"], r["state"], r["kind"]) for r in runs] == [(report["run"], "editor", "completed",
                                                                             "suite")]
    stored = results[report["run"]]
    assert len(stored) == 6 and {r["output"] for r in stored} == {"your order will open soon"}
    assert not any(r["cached"] for r in stored) and datasets == [{"name": "cases"}]
    assert [c["passed"] for c in report["cells"]] == [2, 2] and report["verdict"] == "pass"

    again = remote("editor", "eval", "evals/s.yaml")  # the server's response cache answers
    assert "6 calls to make (0 already done): 6 from the cache, 0 to the models" in again.stderr
    assert len(stub.requests) == 6 and again.code == 0

    for args in (("eval", "list"), ("eval", "list", "--json"), ("eval", "show", report["run"]),
                 ("eval", "show", report["run"][:8], "--cases"), ("eval", "show", report["run"], "--failed", "--json")):
        through, itself = remote("viewer", *args), remote.local(*args)
        assert (through.code, through.stdout, through.stderr) == (itself.code, itself.stdout, itself.stderr), args
    shown = remote("viewer", "eval", "show", report["run"], "--failed")
    assert "rude" in shown.stdout and "FAIL" in shown.stdout and "hours" not in shown.stdout
    verified = remote.local("verify")
    assert verified.code == 0, verified.stdout + verified.stderr  # the hash chains are intact


def test_compare_history_and_baselines_through_the_server(remote, server, stub):
    first = json.loads(remote("editor", "eval", "evals/s.yaml", "--json").stdout)["run"]
    stub.plant("when do you open", "closed")  # "hours" now fails in both cells
    second = remote("editor", "eval", "evals/s.yaml", "--no-cache", "--baseline", first, "--strict", "--json")
    assert second.code == 1, second.stderr
    compared = json.loads(second.stdout)["comparison"]
    assert compared["baseline"] == first and all(c["regressed"] == ["hours"] for c in compared["cells"])
    by_label = remote("editor", "eval", "evals/s.yaml", "--baseline", "production", "--json")
    assert json.loads(by_label.stdout)["comparison"]["baseline"] in (first, json.loads(second.stdout)["run"])
    for args in (("eval", "compare", first, json.loads(second.stdout)["run"], "--strict"),
                 ("eval", "compare", first[:8], json.loads(second.stdout)["run"], "--json"),
                 ("eval", "history", "s"), ("eval", "history", "evals/s.yaml", "--json")):
        through, itself = remote("viewer", *args), remote.local(*args)
        assert (through.code, through.stdout, through.stderr) == (itself.code, itself.stdout, itself.stderr), args
    assert "hours: pass -> fail" in remote("viewer", "eval", "compare", first, json.loads(second.stdout)["run"]).stdout


def test_junit_and_markdown_reports_of_a_run_through_the_server(remote, server, stub):
    from promptver.evals.outputs import iter_case_rows, junit_xml, markdown
    from promptver.evals.report import build_report
    from promptver.services.registry import Registry

    ran = remote("editor", "eval", "evals/s.yaml", "--junit", "out.xml", "--markdown", "out.md", "--json")
    assert ran.code == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run"]
    with Registry.open(server.db_url, actor="t") as reg:  # the same reports, made on the server's database
        report = build_report(reg, run_id)
        local = (junit_xml(report, iter_case_rows(reg, run_id)), markdown(report))
    assert ((remote.project / "out.xml").read_text(), (remote.project / "out.md").read_text()) == local
    assert local[0].count("<testcase") == 6 and local[0].count("<failure") == 2  # "rude", in both cells


def test_a_viewer_or_fetch_token_is_refused_and_nothing_is_stored(remote, server, stub):
    for who in ("viewer", "fetch"):
        refused = remote(who, "eval", "evals/s.yaml")
        assert refused.code == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith("error: "), refused.stderr
        what = "role viewer" if who == "viewer" else "a fetch-only token"
        assert refused.stderr == (f"error: {'viewer' if who == 'viewer' else 'app'} ({what}) may not run evals through "
                                  "the server: it needs role editor or higher; nothing was run\n")
    runs, _, datasets = _stored(server)
    assert runs == [] and datasets == [] and stub.requests == []
    with server.client("viewer") as viewer:
        posted = viewer.post("/v1/evals/runs", json={"id": "0" * 16, "suite": "s", "suite_hash": "x",
                                                     "dataset_version_id": 1, "plan": {}})
        assert posted.status_code == 403 and "needs role editor" in posted.json()["error"]["message"]
    with server.client("editor") as editor:
        unknown = editor.post("/v1/evals/runs/0123456789abcdef/results", json={"results": []})
        assert unknown.status_code == 404 and "no eval run" in unknown.json()["error"]["message"]
        wrong = editor.post("/v1/datasets", json={"name": "d", "cases": [{"id": "a", "vars": {}}],
                                                  "content_hash": "0" * 64})
        assert wrong.status_code == 422 and "does not match its cases" in wrong.json()["error"]["message"]
        query = editor.post("/v1/evals/query", json={"query": "passing_run", "args": {}})
        assert query.status_code == 422 and "unknown eval query" in query.json()["error"]["message"]
    assert _stored(server)[0] == []


def test_the_release_gate_accepts_a_release_after_ci_ran_the_suite_through_the_server(remote, server, stub):
    write_suite(remote.project, "dataset: cases.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
                                "scorers: [{type: not-contains, value: sorry}]\n", "gate.yaml")
    pinned = remote("admin", "label", "protect", "support-reply", "gated", "--require-suite", "evals/gate.yaml")
    assert pinned.code == 0, pinned.stderr
    p1 = server.pairings["p1"]
    early = remote("releaser", "label", "set", "support-reply", "gated", p1)
    assert early.code == 1 and "no completed whole-suite run" in early.stderr
    ci = remote("editor", "eval", "evals/gate.yaml", "--json")
    assert ci.code == 0, ci.stderr
    released = remote("releaser", "label", "set", "support-reply", "gated", p1)
    assert released.code == 0, released.stderr
    assert released.stdout.startswith(f"support-reply@gated -> {p1}")


def test_resume_through_the_server_retries_what_errored(remote, server, stub):
    stub.fail(500, match="open")  # "hours" fails in both cells, every attempt
    first = remote("editor", "eval", "evals/s.yaml", "--json")
    assert first.code == 3, first.stderr
    run_id = json.loads(first.stdout)["run"]
    assert json.loads(first.stdout)["errors"] == 2
    stub.reset()
    done = remote("editor", "eval", "evals/s.yaml", "--resume", run_id[:10], "--json")
    assert done.code == 0, done.stderr
    assert "2 calls to make (4 already done, 2 of them again after an error)" in done.stderr
    assert len(stub.requests) == 2
    runs, results, _ = _stored(server)
    assert [r["state"] for r in runs] == ["completed"]
    attempts = sorted((r["case_id"], r["attempt"], bool(r["error"]))
                      for r in results[run_id] if r["case_id"] == "hours")
    assert attempts == [("hours", 0, True), ("hours", 0, True), ("hours", 1, False), ("hours", 1, False)]
    assert remote("viewer", "eval", "show", run_id).stdout == remote.local("eval", "show", run_id).stdout


def test_a_result_too_large_for_one_request_is_one_clear_line(remote, server, stub, monkeypatch):
    monkeypatch.setattr("promptver.evals.remote_store.MAX_ITEM", 100)
    refused = remote("editor", "eval", "evals/s.yaml")
    announced, error = refused.stderr.splitlines()  # the announcement, then one line: no traceback
    assert refused.code == 2 and announced.startswith("6 calls to make"), refused.stderr
    assert error.startswith("error: the result of case ") and "over what a server takes in one request (1 MB)" in error
    runs, results, _ = _stored(server)
    # resumable, nothing half-written
    assert [r["state"] for r in runs] == ["running"] and list(results.values()) == [[]]


def test_cached_answers_are_never_shared_between_identities_through_a_server(tmp_path):
    """An editor could post made-up answers into the response cache; another user's run through the
    server must not take them for its own."""
    from promptver.services.registry import Registry
    from promptver.storage.eval_reader import EvalReader

    url = "sqlite:///" + str(tmp_path / "r.db")
    with Registry.open(url, actor="admin") as reg:
        from datetime import UTC, datetime

        from promptver.storage import eval_writes

        reg.db.write_plain(lambda tx: eval_writes.cache_responses(tx, [
            {"key": "k" * 64, "response": {"output": "planted"}, "created_at": datetime.now(UTC)}]))
        reader = EvalReader(reg.reader)
        assert reader.cached_keys(["k" * 64]) == {"k" * 64}  # on the database itself: as before
        assert reader.own_cached_keys(["k" * 64], "mallory") == set()
        assert reader.own_cached_responses(["k" * 64], "alice") == {}
