"""`promptver diff PAIRING PAIRING`: both halves of a change between two pairings (the prompt's
text and fields, and the model's id, parameters and lineage), as text and as JSON; and the same
two halves in an attribution report."""

import json

from test_attribution import PROMPT  # the triage prompt file, its system message left to fill in


def setup(cli):
    assert cli("init", "--no-examples").code == 0
    for system in ("You are a triage assistant.", "You are a strict triage assistant."):
        (cli.project / "triage.yaml").write_text(PROMPT.format(system=system))
        assert cli("prompt", "push", "triage.yaml").code == 0
    assert cli("model", "add", "llm", "--model", "promptver/echo", "--param", "temperature=0",
               "--lineage", "base_model=echo-1").code == 0
    assert cli("model", "add", "llm", "--model", "promptver/echo", "--param", "temperature=1",
               "--param", "max_tokens=5", "--lineage", "base_model=echo-2").code == 0
    pair = lambda p, m: cli("pair", p, m).stdout.strip()  # noqa: E731
    return pair("triage/1", "llm/1"), pair("triage/2", "llm/2"), pair("triage/2", "llm/1")


def test_a_pairing_diff_shows_both_halves(cli):
    old, new, _ = setup(cli)
    assert cli("label", "set", "triage", "production", new).code == 0
    result = cli("diff", old, "triage@production")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"pairing {old} -> {new}"
    assert "prompt triage/1 -> triage/2:" in lines and "  +You are a strict triage assistant." in lines
    assert "model llm/1 -> llm/2:" in lines
    at = lines.index("model llm/1 -> llm/2:")
    assert lines[at + 1:] == ['  ~ lineage.base_model: "echo-1" -> "echo-2"', "  + params.max_tokens: 5",
                              "  ~ params.temperature: 0 -> 1"]
    data = json.loads(cli("diff", old, new, "--json").stdout)
    assert (data["old"], data["new"]) == (old, new)
    assert data["prompt"]["same_version"] is False and "+You are a strict" in data["prompt"]["text_diff"]
    assert {f["path"]: (f["old"], f["new"]) for f in data["model"]["fields"]} == {
        "lineage.base_model": ("echo-1", "echo-2"), "params.max_tokens": (None, 5), "params.temperature": (0, 1)}


def test_a_side_that_did_not_change_says_so(cli):
    old, _, prompt_only = setup(cli)
    lines = cli("diff", old, prompt_only).stdout.splitlines()
    assert lines[-1] == "model llm/1: the same version on both sides"
    data = json.loads(cli("diff", old, prompt_only, "--json").stdout)
    assert data["model"]["same_version"] is True and data["model"]["identical"] is True


def test_bad_refs_get_one_line_and_exit_2(cli):
    old, _, _ = setup(cli)
    for args in ((old, "nope@production"), (old, "zzzzzzzzzzzz"), ("triage/2", old)):  # triage/2: two pairings
        result = cli("diff", *args)
        assert result.code == 2 and result.stderr.count("\n") == 1, (args, result.stderr)
        assert result.stdout == ""


def test_an_attribution_report_shows_both_halves(cli):
    old, new, _ = setup(cli)
    (cli.project / "evals").mkdir()
    (cli.project / "evals" / "t.jsonl").write_text(json.dumps({"id": "a", "vars": {"question": "q"},
                                                              "expected": "q"}) + "\n")
    (cli.project / "evals" / "t.yaml").write_text("dataset: t.jsonl\nprompts: [triage/1]\nmodels: [llm/1]\n"
                                                  "scorers: [{type: contains}]\n")
    result = cli("attribute", old, new, "--suite", "evals/t.yaml")
    assert result.code == 0, result.stderr
    assert "  model llm/1 -> llm/2:" in result.stdout and "    ~ params.temperature: 0 -> 1" in result.stdout
    assert "    +You are a strict triage assistant." in result.stdout
