"""`promptver attribute` and `promptver bisect` on planted scenarios, against the local
OpenAI-compatible server: one case per class of the table in docs/attribution.md (``prompt``,
``model``, ``either``, ``both``, a fix, noise, a case deterministic in some cells and noisy in
others), the revert flags and the headline, continuous scores (``--metric``), and bisect flagging
non-determinism. Noisy answers come from a seeded coin: the same cell and call number always give
the same answer, whatever order the calls arrive in."""

import json
import random
import threading
import time
from collections import Counter

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
# what each case does: bad(strict prompt?, new model?) -> probability of a bad answer
PLANTED = {
    "c01": lambda s, m: float(s),              # prompt
    "c02": lambda s, m: float(s),              # prompt
    "c03": lambda s, m: float(m),              # model
    "c04": lambda s, m: float(m),              # model
    "c05": lambda s, m: float(s and m),        # both: only the two together break it
    "c06": lambda s, m: float(s or m),         # either: each change alone breaks it (redundant causes)
    "c07": lambda s, m: 0.5,                   # noise: a coin in every cell
    "c08": lambda s, m: 1.0 if s else 0.3 if m else 0.0,  # prompt; the new model is noisy without it
    "c09": lambda s, m: float(not s),          # the prompt fixes it
}
EXPECTED = {"c01": "prompt", "c02": "prompt", "c03": "model", "c04": "model", "c05": "both", "c06": "either",
            "c08": "prompt", "c09": "prompt"}
REVERT = {"prompt": (True, False), "model": (False, True), "both": (True, True), "either": (False, False)}


class SeededCoin:
    """Bad with a probability, drawn from a seed made of the cell (system text, model, case) and
    the number of earlier calls to that cell: deterministic whatever the arrival order."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, cell: tuple, probability: float) -> bool:
        if probability in (0.0, 1.0):
            return probability == 1.0
        with self.lock:
            n = self.calls[cell]
            self.calls[cell] += 1
        return random.Random(f"{cell}|{n}").random() < probability


def planted(stub, table=PLANTED, new_model="model-b", answer=None):
    """The planted behaviour: which answers are "bad", by prompt text, model and case."""
    coin = SeededCoin()

    def respond(request):
        system = request.messages[0]["content"]
        case = request.last_user.split()[-1]
        strict, new = "strict" in system, request.model.startswith(new_model)
        bad = coin((system, request.model, case), table.get(case, lambda s, m: 0.0)(strict, new))
        return answer(case, strict, new, bad) if answer else f"answer for {case}: " + ("bad" if bad else "ok")

    stub.answer = respond


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


def check_effects_add_up(report, metric="pass_rate"):
    """prompt + model == total exactly, and each effect is the documented combination of the cell
    means, recomputed here from the raw repeat values of the cases (not from the effects)."""
    cases = report["cases"]
    for name, e in report["effects"].items():
        assert e["prompt"] + e["model"] == e["total"], name
    e = report["effects"][metric]
    corners = list(cases[0]["repeats"])
    mean = {k: sum(sum(c["repeats"][k]) / len(c["repeats"][k]) for c in cases) / len(cases) for k in corners}
    b = mean["before"]
    if "after" in mean:
        assert e["total"] == pytest.approx(mean["after"] - b)
        assert e["prompt"] == pytest.approx(((mean["prompt"] - b) + (mean["after"] - mean["model"])) / 2)
        assert e["model"] == pytest.approx(((mean["model"] - b) + (mean["after"] - mean["prompt"])) / 2)
        assert e["interaction"] == pytest.approx(mean["after"] - mean["prompt"] - mean["model"] + b)
    else:
        other = "prompt" if "prompt" in mean else "model"
        assert e["total"] == pytest.approx(mean[other] - b) and e["interaction"] is None
        assert e[other] == pytest.approx(mean[other] - b)
    for name in ("prompt", "model", "total"):
        low, high = e["intervals"][name]
        assert low <= e[name] <= high


def check_table(case):
    """The class and revert flags of a case agree with the table, read from its four cells
    (deterministic cells: exact values)."""
    b, p, m, a = (case["cells"][k] for k in ("before", "prompt", "model", "after"))
    expected = ("unchanged" if a == b else "prompt" if (p, m) == (a, b) else "model" if (m, p) == (a, b)
                else "either" if p == m == a else "both")
    assert case["class"] == expected, case
    assert case["revert"] == {"prompt": m == b, "model": p == b}, case


def release_both(project):
    project.push("You are a triage assistant.")
    project.model("model-a")
    before, _ = project.release("triage/1", "triage-llm/1")
    project.push("You are a strict triage assistant.")
    project.model("model-b")
    after, t1 = project.release("triage/2", "triage-llm/2")
    return before, after, t1


def test_each_class_of_the_table_with_revert_flags_and_the_headline(project):
    _, _, t1 = release_both(project)
    result = project("attribute", "triage@production", "--from", iso(t1), "--to", "now",
                     "--suite", "evals/triage.yaml", "--repeats", "6", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["before"]["prompt"], report["before"]["model"]) == ("triage/1", "triage-llm/1")
    assert (report["after"]["prompt"], report["after"]["model"]) == ("triage/2", "triage-llm/2")
    found = by_class(report)
    assert found["c07"] in ("noise", "unchanged")   # a coin in every cell is never a change
    assert {c: k for c, k in found.items() if c != "c07"} == {c: EXPECTED.get(c, "unchanged") for c in CASES if c != "c07"}
    cases = {c["id"]: c for c in report["cases"]}
    for case_id, klass in EXPECTED.items():
        assert (cases[case_id]["revert"]["prompt"], cases[case_id]["revert"]["model"]) == REVERT[klass], case_id
        if case_id != "c08":
            check_table(cases[case_id])
    assert cases["c09"]["direction"] == "better" and cases["c01"]["direction"] == "worse"
    # c08: the prompt breaks it on both models; the new model alone is noisy: classified on the
    # cells that matter, its noisy cell flagged
    assert cases["c08"]["nondeterministic"] == ["model"] and 0 < cases["c08"]["cells"]["model"] < 1
    assert set(cases["c07"]["nondeterministic"]) == {"before", "prompt", "model", "after"}
    assert {f["corner"]: f["cases"] for f in report["nondeterministic"]} == {
        "before": ["c07"], "prompt": ["c07"], "model": ["c07", "c08"], "after": ["c07"]}
    assert cases["c01"]["p_value"] < 0.05 and report["alpha"] == 0.05 and report["metric"] == "pass_rate"
    # worse: c01 c02 c08 (prompt), c03 c04 (model), c05 (both), c06 (either); better: c09
    assert report["headline"] == {
        "text": "reverting the prompt fixes 4 of 7 changed case(s) that got worse, reverting the model fixes 3, "
                "1 need both reverted (1 of them are fixed by reverting either one); 1 case(s) got better",
        "worse": 7, "better": 1, "revert_prompt": 4, "revert_model": 3, "revert_either": 1, "need_both": 1}
    check_effects_add_up(report)
    e = report["effects"]["pass_rate"]
    assert e["prompt"] < 0 and e["model"] < 0
    assert report["calls"] == 4 * 12 * 6 and set(report["corners"]) == {"before", "prompt", "model", "after"}
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
    lines = text.splitlines()
    assert lines[1] == "  " + report["headline"]["text"]  # the actionable answer first
    assert "3 changed by the prompt alone (revert the prompt): c01, c02, c08, c09" not in text
    assert "4 changed by the prompt alone (revert the prompt): c01, c02, c08, c09" in text
    assert "1 changed only with both changes (reverting either one fixes it): c05" in text
    assert "1 changed by either change alone (only reverting both fixes it): c06" in text
    assert ("non-deterministic: triage/1 + triage-llm/2 (model) answered the same request differently for "
            "2 case(s): c07, c08") in text
    assert "  model triage-llm/1 -> triage-llm/2:" in text and '    ~ model: "openai/model-a" -> "openai/model-b"' in text
    md = project.project / "incident.md"
    assert project("attribute", "show", report["id"], "--markdown", str(md)).code == 0
    written = md.read_text()
    assert written.index(report["headline"]["text"]) < written.index("| class | cases |") < written.index("| pass_rate |")
    assert "| c06 | either | 100% | 0% | 0% | 0% | no | no | - |" in written
    assert "| c05 | both | 100% | 100% | 100% | 0% | yes | yes | - |" in written
    assert "non-deterministic: triage/1 + triage-llm/2 (model)" in written
    assert "### changed by the prompt alone (revert the prompt)" in written
    assert '~ model: "openai/model-a" -> "openai/model-b"' in written


def test_three_repeats_tell_a_deterministic_change_from_noise(project, openai_stub):
    """The issue's incident: with --repeats 3, a case that goes from 3/3 to 0/3 is a change even
    when another cell of it is noisy; one that goes from 3/3 to 1/3 or 2/3 is not significant."""
    planted(openai_stub, {
        "c01": lambda s, m: 1.0 if s else 0.5 if m else 0.0,     # the prompt, a noisy model cell
        "c02": lambda s, m: 0.5 if m else 0.0,                    # the new model is a coin here
    })
    before, after, _ = release_both(project)
    report = json.loads(project("attribute", before, after, "--suite", "evals/triage.yaml", "--repeats", "3",
                                "--json").stdout)
    cases = {c["id"]: c for c in report["cases"]}
    assert cases["c01"]["repeats"]["before"] == [1.0] * 3 and cases["c01"]["repeats"]["after"] == [0.0] * 3
    assert cases["c01"]["class"] in ("prompt", "either") and cases["c01"]["revert"]["model"] is False
    assert cases["c01"]["p_value"] == pytest.approx(2 / 70)  # 0/3 against 3/3 (docs/attribution.md)
    passes = sum(cases["c02"]["repeats"]["after"])
    assert cases["c02"]["class"] == ("model" if passes == 0 else "unchanged" if passes == 3 else "noise")
    assert not any("noise cannot be told apart" in n for n in report["notes"])


QUALITY = {  # (strict prompt?, new model?) -> the planted quality score of a case
    "c01": lambda s, m: 0.4 if s else 0.9,                              # prompt
    "c02": lambda s, m: 0.5 if m else 0.9,                              # model
    "c03": lambda s, m: {(0, 0): 0.9, (1, 0): 0.7, (0, 1): 0.9, (1, 1): 0.5}[(s, m)],  # mixed: halfway with the prompt
}


def scored_quality(project, openai_stub):
    """A python scorer reading the quality the stub planted in its answer; c04 is noisy (a seeded
    uniform draw per call), the others fixed per cell."""
    coin = SeededCoin()

    def answer(case, strict, new, bad):
        if case == "c04":
            with coin.lock:
                n = coin.calls[(strict, new)]
                coin.calls[(strict, new)] += 1
            return f"answer for {case}: quality {random.Random(f'{strict}{new}{n}').uniform(0.2, 0.9):.3f}"
        return f"answer for {case}: quality {QUALITY.get(case, lambda s, m: 0.8)(strict, new):.3f}"

    planted(openai_stub, {}, answer=answer)
    (project.project / "evals" / "quality.py").write_text(
        "def score(output, case):\n    return float(output.rsplit(' ', 1)[-1])\n")
    (project.project / "evals" / "quality.yaml").write_text(
        "dataset: triage.jsonl\nprompts: [triage@production]\nmodels: [triage-llm/1]\n"
        "scorers: [{type: python, function: 'quality:score', name: quality}]\n")


def test_continuous_scores_get_per_case_classes_with_metric(project, openai_stub):
    scored_quality(project, openai_stub)
    before, after, _ = release_both(project)
    result = project("attribute", before, after, "--suite", "evals/quality.yaml", "--repeats", "3", "--metric",
                     "quality", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["metric"] == "quality"
    found = by_class(report)
    assert found.pop("c04") in ("noise", "unchanged")
    assert found == {c: {"c01": "prompt", "c02": "model", "c03": "mixed"}.get(c, "unchanged") for c in CASES if c != "c04"}
    cases = {c["id"]: c for c in report["cases"]}
    assert cases["c03"]["cells"] == pytest.approx({"before": 0.9, "prompt": 0.7, "model": 0.9, "after": 0.5})
    assert cases["c03"]["revert"] == {"prompt": True, "model": False}  # the new model alone is as before
    assert cases["c01"]["direction"] == "worse" and cases["c01"]["revert"] == {"prompt": True, "model": False}
    assert cases["c04"]["nondeterministic"] == ["before", "prompt", "model", "after"]
    check_effects_add_up(report, metric="quality")
    assert report["headline"]["worse"] == 3 and report["headline"]["revert_prompt"] == 2
    # on pass/fail (threshold 0.5) the same run classifies differently: c01 fails only with the prompt
    on_pass = json.loads(project("attribute", before, after, "--suite", "evals/quality.yaml", "--repeats", "3",
                                 "--json").stdout)
    assert on_pass["cached"] == on_pass["calls"] and by_class(on_pass)["c01"] == "prompt"
    assert by_class(on_pass)["c02"] == "unchanged"  # 0.5 still passes the threshold
    text = project("attribute", "show", report["id"]).stdout
    assert "cases (classes on quality, a difference counts when significant at 0.05; cells B P M A):" in text
    assert "1 mixed: the changes interact (see the cells): c03" in text


def test_an_unknown_metric_is_refused_before_anything_is_replayed(project, openai_stub):
    scored_quality(project, openai_stub)
    before, after, _ = release_both(project)
    result = project("attribute", before, after, "--suite", "evals/quality.yaml", "--metric", "qualty")
    assert result.code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "--metric 'qualty': suite quality measures pass_rate, quality, latency_ms, cost_usd" in result.stderr
    assert openai_stub.requests == [] and json.loads(project("eval", "list", "--json").stdout) == []


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
    found = by_class(report)
    assert found.pop("c07") in ("noise", "unchanged")
    expected = {c: "prompt" for c in ("c01", "c02", "c06", "c08", "c09")}  # c05 needs the model too
    assert found == {c: expected.get(c, "unchanged") for c in CASES if c != "c07"}
    for case in report["cases"]:
        assert case["cells"]["model"] == case["cells"]["before"] and case["cells"]["after"] == case["cells"]["prompt"]
        if case["id"] != "c07":
            check_table(case)
    assert report["headline"]["revert_prompt"] == report["headline"]["worse"] == 4
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
    assert {c for c, k in by_class(report).items() if k == "model"} >= {"c03", "c04", "c06"}
    for case in report["cases"]:
        check_table(case)  # one repeat: every cell is exact
        assert case["p_value"] is None
    check_effects_add_up(report)


def test_bisect_finds_the_planted_prompt_and_model_versions(project):
    for n in range(1, 10):  # triage/6 onwards is "strict": c01, c02, c06, c08 fail
        project.push(f"You are a {'strict ' if n >= 6 else ''}triage assistant, revision {n}.")
    for name in ("model-a", "model-a2", "model-a3", "model-b", "model-b2"):  # triage-llm/4 onwards: c03, c04 fail
        project.model(name)
    good, _ = project.release("triage/1", "triage-llm/1")
    bad, _ = project.release("triage/9", "triage-llm/5")
    result = project("bisect", "triage", "--good", good, "--bad", bad, "--suite", "evals/triage.yaml", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    found = {c["id"]: (c["axis"], c["last_good"], c["first_bad"]) for c in report["cases"] if c["id"] != "c07"}
    prompt, model = ("prompt", "triage/5", "triage/6"), ("model", "triage-llm/3", "triage-llm/4")
    assert found == {"c01": prompt, "c02": prompt, "c06": prompt, "c08": prompt, "c03": model, "c04": model,
                     "c05": model}
    assert any(n.startswith("1 repeat per cell: a non-deterministic model cannot be told") for n in report["notes"])
    # the ends (4 cells), then log2 of each axis: 8 prompt steps -> 3 replays, 4 model steps -> 2
    assert report["replays"] <= 4 + 3 + 2 + 2  # (+2: the noisy case may open a search of its own)
    assert report["candidates"] == 8 + 4
    assert json.loads(project("attribute", "show", report["id"], "--json").stdout)["kind"] == "bisect"


def test_bisect_flags_a_blame_on_a_cell_that_disagreed_with_itself(project, openai_stub):
    """A hot new model: c10 fails 80% of the time from triage-llm/3 on, c11 half the time. With 6
    repeats the significance rule decides which cases are searched; a blamed cell whose repeats
    disagreed is flagged in the case, the notes and the text."""
    planted(openai_stub, {"c03": lambda s, m: float(m), "c10": lambda s, m: 0.8 if m else 0.0,
                          "c11": lambda s, m: 0.5 if m else 0.0}, new_model="model-b")
    project.push("You are a triage assistant.")
    for name in ("model-a", "model-a2", "model-b", "model-b2", "model-b3"):
        project.model(name)
    good, _ = project.release("triage/1", "triage-llm/1")
    bad, _ = project.release("triage/1", "triage-llm/5")
    result = project("bisect", "triage", "--good", good, "--bad", bad, "--suite", "evals/triage.yaml",
                     "--repeats", "6", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    cases = {c["id"]: c for c in report["cases"]}
    assert cases["c03"]["first_bad"] == "triage-llm/3" and cases["c03"]["nondeterministic"] == []
    assert cases["c03"]["cells"] == {"last_good": {"passed": 6, "of": 6}, "first_bad": {"passed": 0, "of": 6}}
    for case in cases.values():
        blamed = case["cells"]["first_bad"]
        assert ("first_bad" in case["nondeterministic"]) == (0 < blamed["passed"] < blamed["of"])
        if "first_bad" in case["nondeterministic"]:
            assert any(n.startswith(f"{case['id']}: the blamed cell ({case['first_bad']} with triage/1) disagreed "
                                    f"with itself: {blamed['passed']} of 6 repeats passed") for n in report["notes"])
    assert "first_bad" in cases["c10"]["nondeterministic"]  # the seeded coin: 80% bad is rarely 6 of 6
    assert set(cases) <= {"c03", "c10", "c11"}
    if "c11" not in cases:  # half the time: rarely significant with 6 repeats; then it is named, not blamed
        assert any("not significantly given 6 repeat(s) (at 0.05): not searched: c11" in n for n in report["notes"])
    text = project("attribute", "show", report["id"]).stdout
    assert "non-deterministic: first bad" in text and "blamed cell" in text


def test_bisect_with_three_repeats_does_not_blame_one_of_three(project, openai_stub):
    """The issue's case: a case 3/3 on the good pairing and 1/3 on the bad one is not a significant
    change with 3 repeats: it is named in the notes, not blamed on a version."""
    project.push("You are a triage assistant.")
    project.model("model-a")
    project.model("model-b")
    good, _ = project.release("triage/1", "triage-llm/1")
    bad, _ = project.release("triage/1", "triage-llm/2")
    calls = Counter()

    def one_of_three(request):  # c01 on the new model: bad, ok, bad for every 3 calls
        case = request.last_user.split()[-1]
        if case == "c01" and request.model == "model-b":
            calls[case] += 1
            return "answer for c01: " + ("ok" if calls[case] % 3 == 2 else "bad")
        return f"answer for {case}: " + ("bad" if case == "c02" and request.model == "model-b" else "ok")

    openai_stub.answer = one_of_three
    report = json.loads(project("bisect", "triage", "--good", good, "--bad", bad, "--suite", "evals/triage.yaml",
                                "--repeats", "3", "-j", "1", "--json").stdout)
    assert [c["id"] for c in report["cases"]] == ["c02"]
    assert any("1 case(s) passed less often on the bad pairing, but not significantly given 3 repeat(s) (at 0.05): "
               "not searched: c01" in n for n in report["notes"])


@pytest.mark.parametrize("args, message", [
    (["triage@production", "--from", "2001-01-01T00:00:00Z"], "label 'production' of triage was not set yet at"),
    (["triage@staging", "--from", "2001-01-01T00:00:00Z"], "label 'staging' of triage was never set"),
    (["triage@production"], "give --from TIME"),
    (["triage@production", "--from", "the day the prompt broke"], "bad time 'the day the prompt broke'"),
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
