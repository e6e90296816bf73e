"""Release gates pin a suite's content, count only whole-suite runs, let rollbacks through, and can be
forced past by an admin (with a reason, kept in the label's history).

The worked example: support-reply/1 x support-llm/1 on production, the offline model. A model with
``max_tokens=12`` answers "You are a friendly support agent for Acme. How do I get a" for the refund
case (no "refund": that case fails) and passes the other two; ``max_tokens=14`` passes all three.
"""

import json
from datetime import UTC, datetime

import pytest
from conftest import prompt_spec
from conftest import write_suite as _suite

from promptver.errors import Forbidden, InvalidValue, ReleaseGateFailed
from promptver.services import access
from promptver.services.access import Principal
from promptver.services.registry import Registry

pytestmark = pytest.mark.usefixtures("fast_retries")

SUITE = "evals/support-reply.yaml"
P, L = "support-reply", "production"


def _model(example, max_tokens):
    """A new version of support-llm with ``max_tokens``; returns its ref."""
    result = example("model", "add", "support-llm", "--model", "promptver/echo", "--param", "temperature=0",
                     "--param", f"max_tokens={max_tokens}")
    assert result.code == 0, result.stderr
    return json.loads(example("model", "log", "support-llm", "--json").stdout)[0]["ref"]


def _pair(example, prompt_ref, model_ref):
    result = example("pair", prompt_ref, model_ref)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def _protect(example, file=SUITE, *extra):
    result = example("label", "protect", P, L, "--require-suite", file, "--json", *extra)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)["require_suite_hash"]


def _run_suite(example, models, file=SUITE, name="gate.yaml"):
    """Run the suite file's content with its prompts and models replaced (a copy of the file)."""
    text = (example.project / file).read_text()
    text = text.replace("prompts: [support-reply@production]", "prompts: [support-reply/1]")
    text = text.replace("models: [support-llm/1]", f"models: [{', '.join(models)}]")
    if "name:" not in text:
        text += f"name: {(example.project / file).stem}\n"
    path = _suite(example.project, text, name)
    return example("eval", path, "--json")


def _registry(example, principal=None):
    return Registry.open(f"sqlite:///{example.project / '.promptver' / 'registry.db'}", actor="tester",
                         principal=principal)


def _audit(example, action):
    return json.loads(example("audit", "--action", action, "--json").stdout)


def _set(example, pairing, *extra):
    return example("label", "set", P, L, pairing, *extra)


# -- pins ----------------------------------------------------------------------------------------
def test_protect_pins_the_suite_files_content_and_refuses_a_name(example):
    refused = example("label", "protect", P, L, "--require-suite", "support-reply")
    assert refused.code == 2
    assert refused.stderr == ("error: --require-suite 'support-reply' is not a readable file: give the suite file, "
                              "e.g. evals/support-reply.yaml, so its content can be pinned\n")
    shown = example("label", "protect", P, L, "--require-suite", SUITE)
    assert shown.code == 0, shown.stderr
    digest = _protect(example)
    assert len(digest) == 64 and f"suite content {digest[:12]}" in shown.stdout
    policy = _audit(example, "label.policy")[0]["details"]
    assert policy["require_suite"] == "support-reply" and policy["require_suite_hash"] == digest
    broken = _suite(example.project, "dataset: nope.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
                                     "scorers: [{type: contains}]\n", "broken.yaml")
    bad = example("label", "protect", P, L, "--require-suite", broken)
    assert bad.code == 2 and bad.stderr.startswith("error: evals/broken.yaml: dataset: no file") and \
        "Traceback" not in bad.stderr


def test_a_legacy_policy_without_a_pinned_content_refuses_with_the_re_pin_command(reg):
    reg.push_prompt(prompt_spec())
    reg.add_model("m", "promptver/echo")
    pid = reg.pair("support-reply/1", "m/1").pairing.id
    reg.set_label_policy(P, L, protected=True, require_suite="support-reply")  # as set before contents were pinned
    with pytest.raises(ReleaseGateFailed) as refused:
        reg.move_label(P, L, pid)
    assert "without pinning its content" in refused.value.message
    assert refused.value.message.endswith(
        "an admin must pin the suite file's content with `promptver label protect support-reply production "
        "--require-suite FILE`")
    assert [e.action for e in reg.reader.audit(action="denied")] == ["denied"]
    assert reg.reader.label_event(P, L) is None
    with pytest.raises(InvalidValue, match="64 hex digits"):
        reg.set_label_policy(P, L, protected=True, require_suite="support-reply", require_suite_hash="abc")


# -- replays never count -------------------------------------------------------------------------
def test_a_bisect_replay_never_passes_the_gate_then_a_whole_suite_run_does(example):
    """The issue's case: a pairing evaluated only by a bisect replay of the case it passes."""
    pinned = _protect(example)
    good = _pair(example, "support-reply/1", "support-llm/1")
    middle = _pair(example, "support-reply/1", _model(example, 14))   # passes every case
    bad = _pair(example, "support-reply/1", _model(example, 12))      # fails refund
    bisect = example("bisect", P, "--good", good, "--bad", bad, "--suite", SUITE, "--json")
    assert bisect.code == 0, bisect.stderr
    runs = json.loads(example("eval", "list", "--json").stdout)
    assert runs, "the bisect stored its replays as runs"
    with _registry(example) as reg:
        from promptver.storage.eval_reader import EvalReader

        stored = [EvalReader(reg.reader).run(r["run"]) for r in runs]
    assert {r["kind"] for r in stored} == {"bisect"}
    assert any(middle in r["plan"]["fingerprint"]["pairings"] for r in stored), "the replay evaluated the middle"
    refused = _set(example, middle)
    assert refused.code == 1
    assert refused.stderr.startswith(f"error: label 'production' requires a passing run of eval suite 'support-reply' "
                                     f"(suite content {pinned[:12]}) for pairing {middle}: "
                                     "no completed whole-suite run")
    assert "replays never count" in refused.stderr and "bisect" in refused.stderr
    assert json.loads(example("label", "history", P, L, "--json").stdout)[-1]["pairing"] == good
    ran = _run_suite(example, ["support-llm/2"])
    assert ran.code == 0, ran.stdout + ran.stderr
    allowed = _set(example, middle)
    assert allowed.code == 0, allowed.stderr
    # eval history and --baseline production see whole-suite runs only
    lines = example("eval", "history", "support-reply").stdout.splitlines()
    assert lines == ["support-reply/1 x support-llm/2  █  100% (latest)  runs: 1"]
    with _registry(example) as reg:
        from promptver.evals.compare import resolve_baseline

        assert resolve_baseline(reg, "support-reply", "production") == (json.loads(ran.stdout)["run"], middle)


def test_baseline_production_skips_newer_replays(example):
    baseline = _run_suite(example, ["support-llm/1"])  # production's pairing, whole suite
    assert baseline.code == 0, baseline.stdout
    baseline_id = json.loads(baseline.stdout)["run"]
    production = json.loads(example("label", "history", P, L, "--json").stdout)[-1]["pairing"]
    bad = _pair(example, "support-reply/1", _model(example, 12))
    assert example("bisect", P, "--good", production, "--bad", bad, "--suite", SUITE, "--json").code == 0
    with _registry(example) as reg:
        from promptver.evals.compare import resolve_baseline
        from promptver.storage.eval_reader import EvalReader

        reader = EvalReader(reg.reader)
        newest = reader.runs("support-reply", limit=1)[0]
        assert newest["kind"] == "bisect" and production in newest["plan"]["fingerprint"]["pairings"]
        assert [r["id"] for r in reader.runs("support-reply", kind="suite")] == [baseline_id]
        assert resolve_baseline(reg, "support-reply", "production") == (baseline_id, production)
        assert reader.latest_run_for(production) == baseline_id
    compared = example("eval", SUITE, "--baseline", "production", "--json")
    assert compared.code == 0, compared.stdout + compared.stderr
    assert baseline_id in json.dumps(json.loads(compared.stdout)["comparison"])
    assert example("eval", "history", "support-reply").stdout.splitlines() == [
        "support-reply/1 x support-llm/1  ██  100% (latest)  runs: 2"]


# -- content, not name ---------------------------------------------------------------------------
def test_a_look_alike_suite_with_the_same_name_does_not_satisfy_the_gate(example):
    pinned = _protect(example)
    candidate = _pair(example, "support-reply/1", _model(example, 12))  # fails refund in the real suite
    (example.project / "evals" / "trivial.jsonl").write_text(
        '{"id": "hi", "vars": {"company": "Acme", "question": "Hi?"}, "expected": "Acme"}\n')
    look_alike = _suite(example.project, "name: support-reply\ndataset: trivial.jsonl\nprompts: [support-reply/1]\n"
                                         "models: [support-llm/2]\nscorers: [{type: contains}]\n", "look-alike.yaml")
    ran = example("eval", look_alike, "--json")
    assert ran.code == 0 and json.loads(ran.stdout)["cells"][0]["pass_rate"] == 1.0
    refused = _set(example, candidate)
    assert refused.code == 1
    other = json.loads(ran.stdout)["run"]
    assert f"not the pinned {pinned[:12]}" in refused.stderr and f"(run {other})" in refused.stderr
    assert "promptver label protect support-reply production --require-suite FILE" in refused.stderr
    failing = _run_suite(example, ["support-llm/2"])
    assert failing.code == 1
    refused = _set(example, candidate)
    assert refused.code == 1 and "passed 67% (needs 100%" in refused.stderr, refused.stderr


def test_an_edited_suite_must_be_re_pinned_by_an_admin(example):
    _protect(example)
    candidate = _pair(example, "support-reply/1", _model(example, 14))
    with (example.project / "evals" / "support-reply.jsonl").open("a") as dataset:  # a new case
        dataset.write('{"id": "thanks", "vars": {"company": "Acme", "question": "Thanks for the help"}, '
                      '"expected": "help"}\n')
    ran = _run_suite(example, ["support-llm/2"])
    assert ran.code == 0, ran.stdout
    refused = _set(example, candidate)
    assert refused.code == 1 and "the suite file changed since the gate pinned it" in refused.stderr
    with _registry(example, Principal("rel", "releaser")) as releaser:
        with pytest.raises(Forbidden, match="needs role admin"):
            releaser.set_label_policy(P, L, protected=True, require_suite="support-reply", require_suite_hash="0" * 64)
    _protect(example)  # an admin (the local user) pins the file as it is now
    assert _set(example, candidate).code == 0


# -- rollbacks -----------------------------------------------------------------------------------
def test_a_rollback_to_a_released_pairing_needs_no_new_run_and_is_audited(example):
    first = json.loads(example("label", "history", P, L, "--json").stdout)[-1]["pairing"]  # never evaluated
    _protect(example)
    second = _pair(example, "support-reply/1", _model(example, 14))
    assert _run_suite(example, ["support-llm/2"]).code == 0
    assert _set(example, second).code == 0
    back = example("rollback", P, L, "--reason", "incident 12")
    assert back.code == 0, back.stderr
    assert f"-> {first}" in back.stdout
    event = _audit(example, "label.rollback")[0]
    assert event["details"]["rollback_to_seq"] == 1
    assert event["details"]["gate"] == ("not applied: a rollback to a pairing this label pointed at before (event 1)")
    assert _set(example, second).code == 0  # `label set` back to a released pairing is a rollback too
    assert _audit(example, "label.set")[0]["details"]["rollback_to_seq"] == 2
    # a pairing on another label (staging), never on production, is a release: gated
    third = _pair(example, "support-reply/1", _model(example, 12))
    assert example("label", "set", P, "staging", third).code == 0
    refused = _set(example, third)
    assert refused.code == 1 and "requires a passing run" in refused.stderr
    history = json.loads(example("label", "history", P, L, "--json").stdout)
    assert [e["pairing"] for e in history] == [first, second, first, second]
    assert all(e["gate_override"] is None for e in history)


def test_a_rollback_skips_the_four_eyes_rule_but_a_release_does_not(reg):
    reg.push_prompt(prompt_spec())
    reg.push_prompt(prompt_spec(system="v2 {{ company }}"))
    reg.add_model("m", "promptver/echo")
    p1 = reg.pair("support-reply/1", "m/1").pairing.id
    p2 = reg.pair("support-reply/2", "m/1").pairing.id
    access.set_label_policy(reg, P, L, protected=True, distinct_author=True)
    other = Registry(reg.db, principal=Principal("ann", "releaser"))
    other.move_label(P, L, p1)
    other.move_label(P, L, p2)
    author = Registry(reg.db, principal=Principal("tester", "releaser"))  # authored both prompt versions
    event, moved = author.rollback(P, L)
    assert moved and event.pairing_id == p1
    reg.push_prompt(prompt_spec(system="v3 {{ company }}"))
    p3 = reg.pair("support-reply/3", "m/1").pairing.id
    with pytest.raises(Forbidden, match="requires a second person"):
        author.move_label(P, L, p3)


# -- forcing -------------------------------------------------------------------------------------
def test_an_admin_forces_a_release_past_the_gate_and_it_is_kept(example):
    _protect(example)
    candidate = _pair(example, "support-reply/1", _model(example, 12))
    no_reason = _set(example, candidate, "--force")
    assert no_reason.code == 2
    assert no_reason.stderr == ("error: --force needs --reason: say why the release gate is overridden (it is kept "
                                "in the label's history and the audit log)\n")
    refusal = _set(example, candidate).stderr.removeprefix("error: ").strip()
    forced = _set(example, candidate, "--force", "--reason", "hotfix for incident 7")
    assert forced.code == 0, forced.stderr
    assert forced.stdout.splitlines()[-1] == f"forced past the release gate by tester: {refusal}"
    event = json.loads(example("label", "history", P, L, "--json").stdout)[-1]
    assert event["pairing"] == candidate and event["gate_override"] == refusal
    assert event["reason"] == "hotfix for incident 7"
    shown = example("label", "history", P, L).stdout.splitlines()
    assert shown[-1] == f"production event 2: forced past the release gate by tester: {refusal}"
    audited = _audit(example, "label.set")[0]["details"]
    assert audited["forced"] is True and audited["gate_override"] == refusal
    # a --force that the gate would not refuse is an ordinary move
    assert _run_suite(example, ["support-llm/1"]).code == 0
    plain = example("rollback", P, L, "--json")
    assert plain.code == 0 and json.loads(plain.stdout)["gate_override"] is None
    again = json.loads(_set(example, candidate, "--force", "--reason", "again", "--json").stdout)
    assert again["moved"] and again["gate_override"] is None  # a rollback to event 2's pairing: no gate


def test_only_admins_may_force(example):
    _protect(example)
    candidate = _pair(example, "support-reply/1", _model(example, 12))
    with _registry(example, Principal("rel", "releaser")) as releaser:
        with pytest.raises(Forbidden) as refused:
            releaser.move_label(P, L, candidate, reason="trust me", force=True)
        assert refused.value.message.startswith("only admins may force a release past the release gate "
                                                "(rel is releaser)")
        with pytest.raises(ReleaseGateFailed):
            releaser.move_label(P, L, candidate, reason="trust me")
        with pytest.raises(InvalidValue, match="--force needs --reason"):
            releaser.move_label(P, L, candidate, force=True)
    denied = _audit(example, "denied")
    assert [e["details"]["attempted"] for e in denied] == ["release", "release.force"]
    assert json.loads(example("label", "history", P, L, "--json").stdout)[-1]["seq"] == 1


def test_passing_run_on_both_backends(reg):
    """The gate's query over hand-written runs: kind, content, state, completeness, errors, threshold."""
    from promptver.services import datasets
    from promptver.storage import eval_writes
    from promptver.storage.eval_reader import EvalReader

    reg.push_prompt(prompt_spec())
    reg.add_model("m", "promptver/echo")
    pid = reg.pair("support-reply/1", "m/1").pairing.id
    version, _ = datasets.push(reg, "d", [{"id": "c1", "vars": {}}, {"id": "c2", "vars": {}}], "0" * 64)
    pinned, other = "a" * 64, "b" * 64
    when = [datetime(2026, 12, 1, 9, i, tzinfo=UTC) for i in range(10)]

    def run(n, *, kind="suite", content=pinned, state="completed", results=(("c1", None, True), ("c2", None, True)),
            min_pass_rate=None, suite="s"):
        run_id = f"{n:016x}"

        def work(tx):
            eval_writes.insert_run(tx, id=run_id, suite=suite, suite_hash="h" * 64, kind=kind,
                                   suite_content_hash=content, dataset_version_id=version.id,
                                   plan={"fingerprint": {"pairings": [pid], "repeats": 1}, "calls": 2, "path": "s.yaml",
                                         "min_pass_rate": min_pass_rate},
                                   environment={}, actor="tester", created_at=when[n])
            eval_writes.insert_run_event(tx, run_id=run_id, state=state, details={}, created_at=when[n])
            for case, error, passed in results:
                rid = eval_writes.insert_result(tx, run_id=run_id, pairing_id=pid, case_id=case, repeat=0,
                                                request_key="k" * 64, output="x", latency_ms=1.0, prompt_tokens=1,
                                                completion_tokens=1, cost_usd=0.0, cached=False, error=error,
                                                error_kind="timeout" if error else None, response_model=None,
                                                system_fingerprint=None, created_at=when[n])
                if not error:
                    eval_writes.insert_scores(tx, [{"run_id": run_id, "result_id": rid, "scorer": "contains",
                                                    "scorer_version": "v", "value": float(passed),
                                                    "passed": passed, "detail": ""}])

        reg.db.write_plain(work)
        return run_id

    gate = EvalReader(reg.reader)
    assert "no completed whole-suite run" in gate.passing_run("s", pid, pinned)[1]
    run(1, kind="attribution")
    assert "only 1 replay(s) of chosen cases (attribution" in gate.passing_run("s", pid, pinned)[1]
    run(2, content=other)
    assert f"ran suite content {other[:12]}, not the pinned {pinned[:12]}" in \
        gate.passing_run("s", pid, pinned)[1]
    run(3, content=None)
    assert "recorded no suite content" in gate.passing_run("s", pid, pinned)[1]
    run(4, state="running")
    assert "is running, not completed" in gate.passing_run("s", pid, pinned)[1]
    run(5, results=(("c1", None, True),))
    assert "is incomplete for pairing" in gate.passing_run("s", pid, pinned)[1]
    run(6, results=(("c1", None, True), ("c2", "timed out", False)))
    assert "1 of 2 calls answered, 1 error(s)" in gate.passing_run("s", pid, pinned)[1]
    run(7, results=(("c1", None, True), ("c2", None, False)), min_pass_rate=0.9)
    assert "passed 50% (needs 90%" in gate.passing_run("s", pid, pinned)[1]
    good = run(8, results=(("c1", None, True), ("c2", None, False)), min_pass_rate=0.5, suite="renamed")
    assert gate.passing_run("s", pid, pinned) == (good, "")  # the content counts, not the name
    assert run(9, kind="bisect") and gate.passing_run("s", pid, pinned) == (good, "")
    assert [r["id"] for r in gate.runs("s", kind="suite")] == [f"{n:016x}" for n in (7, 6, 5, 4, 3, 2)]
    assert len(gate.runs("s")) == 8 and gate.latest_run_for(pid) == good


# -- through the server --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from server_fixture import running_server

    with running_server(f"sqlite:///{tmp_path_factory.mktemp('server') / 'registry.db'}") as srv:
        yield srv


def test_pins_and_forced_releases_through_the_api_and_the_remote_cli(server, cli, monkeypatch):
    (cli.project / "evals").mkdir()
    (cli.project / "evals" / "cases.jsonl").write_text('{"id": "a", "vars": {"company": "Acme", "question": "Hi"}}\n')
    _suite(cli.project, "dataset: cases.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
                        "scorers: [{type: not-contains, value: sorry}]\n", "nightly.yaml")
    monkeypatch.setenv("PROMPTVER_URL", server.url)
    monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens["releaser"])
    refused = cli("label", "protect", "support-reply", "gated", "--require-suite", "evals/nightly.yaml")
    assert refused.code == 1 and "needs role admin" in refused.stderr
    monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens["admin"])
    pinned = cli("label", "protect", "support-reply", "gated", "--require-suite", "evals/nightly.yaml", "--json")
    assert pinned.code == 0, pinned.stderr
    digest = json.loads(pinned.stdout)["require_suite_hash"]
    with server.client("admin") as admin:
        assert admin.get("/v1/audit", params={"action": "label.policy"}).json()[0]["details"]["require_suite_hash"] \
            == digest
        bad = admin.put("/v1/label-policies/support-reply/other", json={"protected": False, "require_suite": "x",
                                                                        "require_suite_hash": "nope"})
        assert bad.status_code == 422 and "64 hex digits" in bad.json()["error"]["message"]
    p1, path = server.pairings["p1"], "/v1/prompts/support-reply/labels/gated"
    with server.client("releaser") as releaser:
        gated = releaser.put(path, json={"pairing": p1})
        assert gated.status_code == 409
        message = gated.json()["error"]["message"]
        assert f"(suite content {digest[:12]})" in message and "no completed whole-suite run" in message
        forced = releaser.put(path, json={"pairing": p1, "reason": "please", "force": True})
        assert forced.status_code == 403 and "only admins may force" in forced.json()["error"]["message"]
    with server.client("admin") as admin:
        no_reason = admin.put(path, json={"pairing": p1, "force": True})
        assert no_reason.status_code == 422 and "--force needs --reason" in no_reason.json()["error"]["message"]
    moved = cli("label", "set", "support-reply", "gated", p1, "--force", "--reason", "outage", "--json")
    assert moved.code == 0, moved.stderr
    assert json.loads(moved.stdout)["gate_override"] == message
    shown = cli("label", "history", "support-reply", "gated")
    assert shown.stdout.splitlines()[-1] == f"gated event 1: forced past the release gate by admin: {message}"
    history = json.loads(cli("label", "history", "support-reply", "gated", "--json").stdout)
    assert history[-1]["gate_override"] == message
