"""`promptver attribute` and `promptver bisect` on planted scenarios, against the local
OpenAI-compatible server: a prompt change that flips some cases, a model change that flips others,
a change that appears only when both change, and pure noise."""

import json
import random
import time

import pytest
from openai_stub import openai_stub_fixture  # noqa: F401  (the openai_stub fixture)

pytestmark = pytest.mark.usefixtures("fast_retries")

PROMPT = """\
name: triage
messages:
  - role: system
    content: "{system}"
  - role: user
    content: "{{{{ question }}}}"
variables:
  question: {{type: string}}
"""
CASES = [f"c{i:02d}" for i in range(1, 13)]
PROMPT_FLIPS, MODEL_FLIPS, BOTH_FLIPS, NOISY = {"c01", "c02"}, {"c03", "c04"}, {"c05"}, {"c06"}


def planted(stub):
    """The planted behaviour: which answers are "bad", by prompt text, model and case."""
    rng = random.Random(7)

    def answer(request):
        system = request.messages[0]["content"]
        case = request.last_user.split()[-1]
        strict, new_model = "strict" in system, request.model.startswith("model-b")
        bad = ((case in PROMPT_FLIPS and strict) or (case in MODEL_FLIPS and new_model)
               or (case in BOTH_FLIPS and strict and new_model) or (case in NOISY and rng.random() < 0.5))
        return f"answer for {case}: " + ("bad" if bad else "ok")

    stub.answer = answer


@pytest.fixture
def project(cli, openai_stub):
    """A prompt `triage` (push more versions with ``push``), a model `triage-llm` on the stub, a
    12-case dataset and a suite; ``release(prompt_ref, model_ref)`` moves production and returns
    (pairing, time just before the move)."""
    planted(openai_stub)
    assert cli("init", "--no-examples").code == 0
    (cli.project / "evals").mkdir()
    with (cli.project / "evals" / "triage.jsonl").open("w") as out:
        for case in CASES:
            out.write(json.dumps({"id": case, "vars": {"question": f"please triage {case}"}, "expected": "ok"}) + "\n")
    (cli.project / "evals" / "triage.yaml").write_text(
        "dataset: triage.jsonl\nprompts: [triage@production]\nmodels: [triage-llm/1]\nscorers: [{type: contains}]\n")

    def push(system):
        (cli.project / "triage.yaml").write_text(PROMPT.format(system=system))
        result = cli("prompt", "push", "triage.yaml", "-m", system)
        assert result.code == 0, result.stderr

    def model(name):
        result = cli("model", "add", "triage-llm", "--model", f"openai/{name}", "--param", f"api_base={openai_stub.url}",
                     "--param", "temperature=0")
        assert result.code == 0, result.stderr

    def release(prompt_ref, model_ref):
        pairing = cli("pair", prompt_ref, model_ref).stdout.strip()
        before = time.time()
        time.sleep(0.01)
        assert cli("label", "set", "triage", "production", pairing).code == 0
        return pairing, before

    cli.push, cli.model, cli.release = push, model, release
    return cli


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def by_class(report):
    return {c["id"]: c["class"] for c in report["cases"]}


def check_effects_add_up(report):
    """prompt + model == total exactly, for every metric, and each effect is the documented average."""
    cases = report["cases"]
    for metric, e in report["effects"].items():
        assert e["prompt"] + e["model"] == e["total"], metric
    e = report["effects"]["pass_rate"]
    n = len(cases)
    mean = {k: sum(c["pass"][k] for c in cases) / n for k in cases[0]["pass"]}
    assert e["total"] == pytest.approx(mean.get("after", mean.get("prompt", mean.get("model"))) - mean["before"])
    if "after" in mean:
        assert e["prompt"] == pytest.approx(((mean["prompt"] - mean["before"]) + (mean["after"] - mean["model"])) / 2)
        assert e["model"] == pytest.approx(((mean["model"] - mean["before"]) + (mean["after"] - mean["prompt"])) / 2)
        assert e["interaction"] == pytest.approx(mean["after"] - mean["prompt"] - mean["model"] + mean["before"])
    for name in ("prompt", "model", "total"):
        low, high = e["intervals"][name]
        assert low <= e[name] <= high


def test_prompt_model_interaction_and_noise_are_told_apart(project):
    project.push("You are a triage assistant.")
    project.model("model-a")
    _, _ = project.release("triage/1", "triage-llm/1")
    project.push("You are a strict triage assistant.")
    project.model("model-b")
    _, t1 = project.release("triage/2", "triage-llm/2")
    result = project("attribute", "triage@production", "--from", iso(t1), "--to", "now",
                     "--suite", "evals/triage.yaml", "--repeats", "6", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["before"]["prompt"], report["before"]["model"]) == ("triage/1", "triage-llm/1")
    assert (report["after"]["prompt"], report["after"]["model"]) == ("triage/2", "triage-llm/2")
    expected = {c: "unchanged" for c in CASES}
    expected.update({c: "prompt" for c in PROMPT_FLIPS} | {c: "model" for c in MODEL_FLIPS}
                    | {c: "interaction" for c in BOTH_FLIPS} | {c: "noise" for c in NOISY})
    assert by_class(report) == expected
    check_effects_add_up(report)
    e = report["effects"]["pass_rate"]
    assert e["interaction"] < 0 and e["prompt"] < 0 and e["model"] < 0
    assert report["calls"] == 4 * 12 * 6 and set(report["corners"]) == {"before", "prompt", "model", "after"}
    assert [f["cases"] for f in report["nondeterministic"]] == [["c06"]] * 4  # flagged in every cell
    assert report["diff"]["prompt"]["text_diff"].count("+You are a strict triage assistant.") == 1
    assert {f["path"] for f in report["diff"]["model"]["fields"]} == {"model"}
    example = report["examples"]["prompt"][0]
    assert example["id"] == "c01" and example["outputs"]["before"] == "answer for c01: ok"
    assert example["outputs"]["after"] == "answer for c01: bad"

    again = project("attribute", report["before"]["pairing"], report["after"]["pairing"],
                    "--suite", "evals/triage.yaml", "--repeats", "6", "--json")
    second = json.loads(again.stdout)
    assert second["cached"] == second["calls"] and by_class(second) == by_class(report)  # cells reused
    shown = json.loads(project("attribute", "show", report["id"], "--json").stdout)
    assert shown == report
    listed = json.loads(project("attribute", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [second["id"], report["id"]]
    text = project("attribute", "show", report["id"][:6]).stdout
    assert "2 changed by the prompt: c01, c02" in text and "1 within noise: c06" in text
    assert "1 changed only with both (interaction): c05" in text and "non-deterministic" in text
    md = project.project / "incident.md"
    assert project("attribute", "show", report["id"], "--markdown", str(md)).code == 0
    assert "| pass_rate |" in md.read_text() and "### changed by the prompt" in md.read_text()


def test_only_the_prompt_changed_replays_two_cells(project):
    project.push("You are a triage assistant.")
    project.model("model-a")
    before, _ = project.release("triage/1", "triage-llm/1")
    project.push("You are a strict triage assistant.")
    after, _ = project.release("triage/2", "triage-llm/1")
    report = json.loads(project("attribute", before, after, "--suite", "evals/triage.yaml", "--repeats", "6",
                                "--json").stdout)
    assert set(report["corners"]) == {"before", "prompt"} and report["calls"] == 2 * 12 * 6
    assert report["changed"] == {"prompt": True, "model": False}
    assert any(n.startswith("only the prompt changed") for n in report["notes"])
    expected = {c: "unchanged" for c in CASES} | {c: "prompt" for c in PROMPT_FLIPS} | {"c06": "noise"}
    assert by_class(report) == expected
    check_effects_add_up(report)
    assert report["effects"]["pass_rate"]["model"] == 0 and report["effects"]["pass_rate"]["interaction"] is None


def test_one_repeat_says_noise_cannot_be_told_apart(project):
    project.push("You are a triage assistant.")
    project.model("model-a")
    before, _ = project.release("triage/1", "triage-llm/1")
    project.model("model-b")
    after, _ = project.release("triage/1", "triage-llm/2")
    report = json.loads(project("attribute", before, after, "--suite", "evals/triage.yaml", "--json").stdout)
    assert any("noise cannot be told apart" in n for n in report["notes"])
    assert {c for c, k in by_class(report).items() if k == "model"} >= MODEL_FLIPS
    check_effects_add_up(report)


def test_bisect_finds_the_planted_prompt_and_model_versions(project):
    for n in range(1, 10):  # triage/6 onwards is "strict": c01, c02 fail
        project.push(f"You are a {'strict ' if n >= 6 else ''}triage assistant, revision {n}.")
    for name in ("model-a", "model-a2", "model-a3", "model-b", "model-b2"):  # triage-llm/4 onwards: c03, c04 fail
        project.model(name)
    good, _ = project.release("triage/1", "triage-llm/1")
    bad, _ = project.release("triage/9", "triage-llm/5")
    result = project("bisect", "triage", "--good", good, "--bad", bad, "--suite", "evals/triage.yaml", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    found = {c["id"]: (c["axis"], c["last_good"], c["first_bad"]) for c in report["cases"] if c["id"] != "c06"}
    assert found == {"c01": ("prompt", "triage/5", "triage/6"), "c02": ("prompt", "triage/5", "triage/6"),
                     "c03": ("model", "triage-llm/3", "triage-llm/4"), "c04": ("model", "triage-llm/3", "triage-llm/4"),
                     "c05": ("model", "triage-llm/3", "triage-llm/4")}
    # the ends (4 cells), then log2 of each axis: 8 prompt steps -> 3 replays, 4 model steps -> 2
    assert report["replays"] <= 4 + 3 + 2 + 2  # (+2: the noisy case may open a search of its own)
    assert report["candidates"] == 8 + 4
    assert json.loads(project("attribute", "show", report["id"], "--json").stdout)["kind"] == "bisect"


@pytest.mark.parametrize("args, message", [
    (["triage@production", "--from", "2001-01-01T00:00:00Z"], "label 'production' of triage was not set yet at"),
    (["triage@staging", "--from", "2001-01-01T00:00:00Z"], "label 'staging' of triage was never set"),
    (["triage@production"], "give --from TIME"),
    (["triage@production", "--from", "yesterday"], "bad time 'yesterday'"),
    (["triage@production", "--from", "2026-11-20T00:00:00Z", "--to", "2026-11-19T00:00:00Z"], "is before --from"),
    (["nope@production", "--from", "2001-01-01T00:00:00Z"], "no prompt named 'nope'"),
])
def test_bad_times_and_labels_are_refused(project, args, message):
    project.push("You are a triage assistant.")
    project.model("model-a")
    project.release("triage/1", "triage-llm/1")
    result = project("attribute", *args, "--suite", "evals/triage.yaml")
    assert result.code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert json.loads(project("attribute", "list", "--json").stdout) == []


def test_pairings_of_different_prompts_are_refused(project):
    project.push("You are a triage assistant.")
    project.model("model-a")
    ours, _ = project.release("triage/1", "triage-llm/1")
    (project.project / "other.yaml").write_text(PROMPT.format(system="x").replace("name: triage", "name: other"))
    project("prompt", "push", "other.yaml")
    theirs = project("pair", "other/1", "triage-llm/1").stdout.strip()
    result = project("attribute", ours, theirs, "--suite", "evals/triage.yaml")
    assert result.code == 2 and "attribution compares two pairings of one prompt" in result.stderr


def test_a_suite_the_old_prompt_version_cannot_take_is_refused(project):
    project.push("You are a triage assistant.")
    project.model("model-a")
    before, _ = project.release("triage/1", "triage-llm/1")
    (project.project / "triage.yaml").write_text(
        PROMPT.format(system="Tier {{ tier }}.").replace("  question: {type: string}", "  question: {type: string}\n"
                                                                                        "  tier: {type: string}"))
    assert project("prompt", "push", "triage.yaml").code == 0
    after, _ = project.release("triage/2", "triage-llm/1")
    (project.project / "evals" / "triage.jsonl").write_text(
        json.dumps({"id": "t1", "vars": {"question": "q t1", "tier": "gold"}, "expected": "ok"}) + "\n")
    result = project("attribute", before, after, "--suite", "evals/triage.yaml")
    assert result.code == 2
    assert "case 't1' sets variable(s) tier, which triage/2 takes but triage/1 does not" in result.stderr
    (project.project / "evals" / "triage.jsonl").write_text(json.dumps({"id": "t2", "vars": {"tier": "x"}, "expected": "ok"}) + "\n")
    missing = project("attribute", after, before, "--suite", "evals/triage.yaml")  # the old one is now triage/2
    assert missing.code == 2 and "case 't2': missing variable(s) question" in missing.stderr


def test_provider_errors_leave_cases_uncompared_and_exit_3(project, openai_stub):
    project.push("You are a triage assistant.")
    project.model("model-a")
    before, _ = project.release("triage/1", "triage-llm/1")
    project.push("You are a strict triage assistant.")
    after, _ = project.release("triage/2", "triage-llm/1")
    openai_stub.fail(400, match="triage c07")  # a request the provider refuses: not retried, not cached
    result = project("attribute", before, after, "--suite", "evals/triage.yaml", "--json")
    report = json.loads(result.stdout)
    assert result.code == 3 and report["incomplete"] == ["c07"]
    assert "c07" not in by_class(report) and by_class(report)["c01"] == "prompt"
    check_effects_add_up(report)
    text = project("attribute", "show", report["id"]).stdout
    assert "1 not compared (provider errors): c07" in text


def test_the_same_pairing_at_both_times_replays_nothing_and_says_why(project):
    project.push("You are a triage assistant.")
    project.model("model-a")
    _, t0 = project.release("triage/1", "triage-llm/1")
    time.sleep(0.02)
    result = project("attribute", "triage@production", "--from", iso(time.time() - 0.01), "--suite",
                     "evals/triage.yaml", "--json")
    report = json.loads(result.stdout)
    assert result.code == 0 and report["run"] is None and report["calls"] == 0
    assert report["changed"] == {"prompt": False, "model": False}
    assert report["notes"][0].startswith("nothing to attribute: both sides are pairing")
    assert json.loads(project("eval", "list", "--json").stdout) == []  # nothing was replayed
