"""Python over HTTP: ``Registry.open(url, token=...)`` gives a pipeline the Registry API through a
real `promptver serve`, under the token's role, with the same results as a local registry."""

import pytest
from conftest import prompt_spec
from server_fixture import running_server

from promptver.errors import Forbidden, NotFound, UsageError
from promptver.services.registry import Registry
from promptver.services.remote import RemoteRegistry

LINEAGE = {"base_model": "openai/gpt-4o-mini-2024-07-18", "weights_uri": "s3://models/ft-support/7",
           "weights_sha256": "ab" * 32, "training_data_ref": "support-tickets/3", "training_data_hash": "cd" * 32,
           "training_code_repo": "git@example.com:acme/ft.git", "training_code_commit": "4d2c1e0",
           "hyperparameters": {"epochs": 3, "lr": 0.0002}}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with running_server(url) as srv:
        yield srv


def pipeline(reg):
    """What a fine-tuning pipeline does after training: register the model with its lineage, pair it
    with the prompt it serves, and stage the pairing."""
    model = reg.add_model("ft-support", "openai/ft:gpt-4o-mini-2024-07-18:acme::7", params={"temperature": 0},
                          lineage=LINEAGE, message="nightly fine-tune", capture_env=True)
    prompt = reg.push_prompt(prompt_spec("ft-reply"), message="for the fine-tune")
    paired = reg.pair("ft-reply/1", "ft-support/1", message="candidate")
    staged, moved = reg.move_label("ft-reply", "staging", paired.pairing.id, reason="nightly")
    return model, prompt, paired, staged, moved


def test_an_editor_token_registers_pairs_and_stages_a_fine_tune(server):
    with Registry.open(server.url, token=server.tokens["editor"]) as reg:
        assert isinstance(reg, RemoteRegistry) and reg.actor == "editor"
        model, prompt, paired, staged, moved = pipeline(reg)
        assert model.created and prompt.created and paired.created and moved
        assert (model.version.ref, model.version.author, prompt.version.ref) == ("ft-support/1", "editor", "ft-reply/1")
        assert {k: model.version.lineage[k] for k in LINEAGE} == LINEAGE
        assert model.version.lineage["environment"]["python"]  # captured here, where the pipeline runs
        assert (paired.pairing.prompt.ref, paired.pairing.model.ref, paired.pairing.author) == \
            ("ft-reply/1", "ft-support/1", "editor")
        assert (staged.pairing_id, staged.actor, staged.reason) == (paired.pairing.id, "editor", "nightly")
        # the same content again: nothing new, through the server as locally
        again = reg.add_model("ft-support", "openai/ft:gpt-4o-mini-2024-07-18:acme::7", params={"temperature": 0},
                              lineage={**LINEAGE, "environment": model.version.lineage["environment"]})
        assert not again.created and again.version.content_hash == model.version.content_hash
        assert not reg.pair("ft-reply/1", "ft-support/1").created
        resolved = reg.resolve("ft-reply@staging")
        assert resolved.pairing.model.lineage["weights_sha256"] == LINEAGE["weights_sha256"]
        assert reg.model_version("ft-support/1").content_hash == model.version.content_hash
        assert reg.prompt_version("ft-reply@staging").content_hash == prompt.version.content_hash
        with pytest.raises(Forbidden, match="protected"):  # production needs a releaser
            reg.move_label("ft-reply", "production", paired.pairing.id)
    # what the server stored is what the pipeline sent, under the token's identity
    with Registry.open(server.db_url) as local:
        stored = local.model_version("ft-support/1")
        assert (stored.content_hash, stored.author) == (model.version.content_hash, "editor")
    with Registry.open(server.url, token=server.tokens["admin"]) as admin:
        event, moved = admin.move_label("ft-reply", "production", paired.pairing.id, reason="ship it")
        assert moved and (event.pairing_id, event.actor) == (paired.pairing.id, "admin")
        assert admin.resolve("ft-reply@production").pairing.id == paired.pairing.id


def test_a_viewer_token_reads_but_is_refused_writes(server):
    with Registry.open(server.url, token=server.tokens["viewer"]) as reg:
        assert reg.resolve("support-reply@production").pairing.id == server.pairings["p1"]
        with pytest.raises(Forbidden, match="viewer"):
            reg.add_model("ft-support", "openai/ft:gpt-4o-mini-2024-07-18:acme::7", lineage=LINEAGE)
        with pytest.raises(Forbidden):
            reg.pair("support-reply/2", "support-llm/1")
        with pytest.raises(Forbidden):
            reg.move_label("support-reply", "staging", server.pairings["p1"])
        with pytest.raises(NotFound):
            reg.model_version("ft-support/1")  # nothing was written
    with Registry.open(server.db_url) as local:
        assert local.current_labels("support-reply")["staging"].pairing_id == server.pairings["p2"]


def test_promptver_url_in_the_environment_opens_the_server(server, monkeypatch):
    monkeypatch.setenv("PROMPTVER_URL", server.url)
    monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens["releaser"])
    with Registry.open() as reg:
        assert isinstance(reg, RemoteRegistry) and reg.actor == "releaser"
    with Registry.open(server.db_url, actor="someone") as local:  # a database URL is opened as always
        assert isinstance(local, Registry) and local.actor == "someone"
    with pytest.raises(UsageError, match="token"):
        Registry.open(server.db_url, token="pv_x")
    with pytest.raises(UsageError, match="token's user"):
        Registry.open(server.url, actor="someone-else")


def test_the_same_calls_on_a_local_registry_give_the_same_results(server, tmp_path):
    with Registry.open(server.url, token=server.tokens["editor"]) as remote:
        over_http = pipeline(remote)
    with Registry.open(f"sqlite:///{tmp_path / 'local.db'}", actor="editor") as local:
        local.push_prompt(prompt_spec())  # the server's seed, so the pairing numbers line up too
        here = pipeline(local)
    for a, b in zip(over_http[:2], here[:2]):  # model, prompt: same content, same identity, same version number
        assert (a.version.ref, a.version.model if hasattr(a.version, "model") else None) == \
            (b.version.ref, b.version.model if hasattr(b.version, "model") else None)
    assert over_http[1].version.content_hash == here[1].version.content_hash
    # the environment is captured per call; the rest of the model version is the same (unset fields
    # come back from the server as None: ModelVersion.to_json leaves them out on both sides)
    def lineage(version):
        return {k: v for k, v in version.lineage.items() if k != "environment" and v is not None}

    assert lineage(over_http[0].version) == lineage(here[0].version) == LINEAGE
    assert over_http[0].version.params == here[0].version.params == {"temperature": 0}
    remote_pairing, local_pairing = over_http[2].pairing, here[2].pairing
    assert (remote_pairing.prompt.content_hash, remote_pairing.message, remote_pairing.author) == \
        (local_pairing.prompt.content_hash, local_pairing.message, local_pairing.author)
    assert (over_http[3].label, over_http[3].seq, over_http[3].reason, over_http[3].actor) == \
        (here[3].label, here[3].seq, here[3].reason, here[3].actor) == ("staging", 1, "nightly", "editor")


def test_a_model_version_has_the_same_identity_over_http_and_locally(server, tmp_path):
    def add(reg):
        return reg.add_model("ft-support", "openai/ft:gpt-4o-mini-2024-07-18:acme::7",
                             params={"temperature": 0, "seed": 7}, lineage=LINEAGE).version

    with Registry.open(server.url, token=server.tokens["editor"]) as remote:
        over_http = add(remote)
        other = remote.add_model("ft-support", "openai/ft:gpt-4o-mini-2024-07-18:acme::7",
                                 params={"temperature": 0, "seed": 8}, lineage=LINEAGE).version
    with Registry.open(f"sqlite:///{tmp_path / 'local.db'}", actor="editor") as local:
        here = add(local)
    assert over_http.content_hash == here.content_hash
    assert other.content_hash != here.content_hash and other.ref == "ft-support/2"
