"""Registry use-cases on both backends: versions, dedup, branches, pairings, annotations, audit."""

from dataclasses import replace

import pytest
from conftest import prompt_spec

from promptver.errors import InvalidRef, InvalidValue, NotFound, SecretRefused, TemplateSyntaxError


def test_push_numbers_versions_and_dedups(reg):
    first = reg.push_prompt(prompt_spec(), message="first")
    assert (first.created, first.version.version, first.version.parent) == (True, 1, None)
    again = reg.push_prompt(prompt_spec(), message="same again")
    assert (again.created, again.version.version) == (False, 1)
    second = reg.push_prompt(prompt_spec(system="You help {{ company }} customers."), message="tone")
    assert (second.created, second.version.version, second.version.parent) == (True, 2, 1)
    assert second.version.variable_names == ["company", "question"]
    assert second.version.content_hash != first.version.content_hash
    assert [v.version for v in reg.log("prompt", "support-reply")] == [2, 1]


def test_reverting_content_is_a_new_version(reg):
    reg.push_prompt(prompt_spec())
    reg.push_prompt(prompt_spec(system="B {{ company }}"))
    third = reg.push_prompt(prompt_spec())
    assert third.created and third.version.version == 3


def test_branch_from_an_older_version(reg):
    reg.push_prompt(prompt_spec(system="A {{ company }}"))
    reg.push_prompt(prompt_spec(system="B {{ company }}"))
    reg.push_prompt(prompt_spec(system="C {{ company }}"))
    fork = reg.push_prompt(prompt_spec(system="A2 {{ company }}"), parent="support-reply/1")
    assert (fork.version.version, fork.version.parent) == (4, 1)
    with pytest.raises(InvalidRef, match="version of support-reply itself"):
        reg.push_prompt(prompt_spec(system="x"), parent="other/1")
    with pytest.raises(NotFound, match="no version 9"):
        reg.push_prompt(prompt_spec(system="x"), parent="support-reply/9")


def test_bad_templates_write_nothing(reg):
    with pytest.raises(TemplateSyntaxError):
        reg.push_prompt(prompt_spec(system="Hi {{ company "))
    assert reg.reader.series_names("prompt") == []
    assert reg.reader.audit() == []


def test_declared_variables_must_cover_the_templates(reg):
    spec = replace(prompt_spec(), variables={"company": {"type": "string"}})
    with pytest.raises(InvalidValue, match="undeclared variable.*question"):
        reg.push_prompt(spec)


def test_models_with_lineage_and_warnings(reg):
    pinned = reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0.2})
    assert pinned.created and pinned.warnings == []
    floating = reg.add_model("support-llm", "openai/gpt-4o", params={"temperature": 0.2})
    assert floating.version.version == 2 and "floating alias" in floating.warnings[0]
    tuned = reg.add_model("support-ft", "hosted_vllm/acme-support", lineage={
        "base_model": "meta-llama/Llama-3.1-8B", "weights_uri": "s3://models/acme/7", "weights_sha256": "ab" * 32,
        "training_data_ref": "datasets/support@v3", "training_data_hash": "cd" * 32,
        "training_code_repo": "git@example.org:acme/train.git", "training_code_commit": "0123abc",
        "hyperparameters": {"lr": 0.0001, "epochs": 3}, "metrics": {"eval_loss": 0.41}}, capture_env=True)
    v = tuned.version
    assert v.lineage["weights_sha256"] == "ab" * 32 and v.lineage["hyperparameters"] == {"lr": 0.0001, "epochs": 3}
    assert v.lineage["environment"]["python"] and "sqlmodel" in v.lineage["environment"]["packages"]
    assert tuned.warnings == []
    same = reg.add_model("support-llm", "openai/gpt-4o", params={"temperature": 0.2})
    assert not same.created


def test_secrets_are_refused_and_nothing_is_written(reg):
    with pytest.raises(SecretRefused, match="environment"):
        reg.add_model("m", "openai/gpt-4o-2024-08-06", params={"api_key": "sk-live"})
    assert reg.reader.series_names("model") == []


def test_pairing_is_unique_per_pair(reg):
    reg.push_prompt(prompt_spec())
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06")
    one = reg.pair("support-reply/1", "support-llm/1", message="first")
    two = reg.pair("support-reply", "support-llm")
    assert one.created and not two.created and one.pairing.id == two.pairing.id
    assert reg.resolve(one.pairing.id[:6]).pairing.id == one.pairing.id
    assert reg.resolve("support-reply/1").pairing.id == one.pairing.id
    with pytest.raises(NotFound, match="no model named 'nope'"):
        reg.pair("support-reply/1", "nope/1")


def test_annotations_are_searchable(reg):
    reg.push_prompt(prompt_spec())
    reg.push_prompt(prompt_spec(system="v2 {{ company }}"))
    reg.annotate("prompt", "support-reply/1", "approved", "by legal")
    reg.annotate("prompt", "support-reply/2", "incident-4711")
    assert [v.version for v in reg.log("prompt", "support-reply", tag="approved")] == [1]
    shown = reg.prompt_version("support-reply/1")
    assert [(a.tag, a.note, a.actor) for a in shown.annotations] == [("approved", "by legal", "tester")]


def test_every_write_is_audited(reg):
    reg.push_prompt(prompt_spec())
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06")
    reg.pair("support-reply/1", "support-llm/1")
    actions = [e.action for e in reversed(reg.reader.audit())]
    assert actions == ["prompt.create", "prompt.push", "model.create", "model.add", "pair"]
    assert {e.actor for e in reg.reader.audit()} == {"tester"}
