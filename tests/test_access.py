"""Access control at the service level, on both backends."""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import prompt_spec

from promptver.errors import Forbidden, InvalidValue, Unauthorized
from promptver.services import access
from promptver.services.access import Principal
from promptver.services.registry import Registry


@pytest.fixture
def team(reg):
    """reg is the local admin; it sets up users of every role and a released pairing."""
    reg.push_prompt(prompt_spec())
    reg.add_model("m", "openai/gpt-4o-2024-08-06")
    pid = reg.pair("support-reply/1", "m/1").pairing.id
    for role in access.ROLES:
        access.add_user(reg, role, role)
    return reg, pid


def as_(reg, name, role, **kw):
    return Registry(reg.db, principal=Principal(name, role, **kw))


def test_roles_gate_writes_and_releases(team):
    reg, pid = team
    viewer, editor, releaser = as_(reg, "viewer", "viewer"), as_(reg, "editor", "editor"), as_(reg, "releaser", "releaser")
    with pytest.raises(Forbidden, match="needs role editor"):
        viewer.push_prompt(prompt_spec(system="v2 {{ company }}"))
    assert editor.push_prompt(prompt_spec(system="v2 {{ company }}")).created
    assert editor.move_label("support-reply", "staging", pid)[1]
    with pytest.raises(Forbidden, match="protected: only releasers"):
        editor.move_label("support-reply", "production", pid)
    assert releaser.move_label("support-reply", "production", pid)[1]
    denied = reg.reader.audit(action="denied")
    assert [(e.actor, e.target) for e in denied] == [("editor", "support-reply@production"),
                                                     ("viewer", "support-reply")]


def test_fetch_only_principals_only_fetch(team):
    reg, _ = team
    app = as_(reg, "viewer", "viewer", fetch_only=True)
    assert app.principal.can("fetch") and not app.principal.can("read")
    with pytest.raises(Forbidden, match="fetch-only"):
        access.require(app, "read", "prompts")


def test_label_policies_star_specific_and_four_eyes(team):
    reg, pid = team
    access.set_label_policy(reg, "*", "canary", protected=True)
    editor = as_(reg, "editor", "editor")
    with pytest.raises(Forbidden, match="protected"):
        editor.move_label("support-reply", "canary", pid)
    access.set_label_policy(reg, "support-reply", "canary", protected=False)
    assert editor.move_label("support-reply", "canary", pid)[1]  # the prompt's own policy wins
    access.set_label_policy(reg, "support-reply", "production", protected=True, distinct_author=True)
    author = as_(reg, "tester", "releaser")  # "tester" pushed support-reply/1
    with pytest.raises(Forbidden, match="requires a second person"):
        author.move_label("support-reply", "production", pid)
    assert as_(reg, "releaser", "releaser").move_label("support-reply", "production", pid)[1]


def test_tokens(team):
    reg, _ = team
    editor = as_(reg, "editor", "editor")
    with pytest.raises(Forbidden, match="more rights than its creator"):
        access.create_token(editor, "editor", role="releaser")
    with pytest.raises(Forbidden, match="needs role admin"):
        access.create_token(editor, "viewer")
    token, record = access.create_token(editor, "editor", role="viewer", name="ci")
    assert token.startswith("pv_") and record["prefix"] == token[:10] and not record["revoked"]
    principal = access.authenticate(reg.reader, token)
    assert (principal.name, principal.role) == ("editor", "viewer")
    access.set_role(reg, "editor", "viewer")
    access.set_role(reg, "editor", "editor")
    access.revoke_token(editor, record["id"], "rotated")
    with pytest.raises(Unauthorized, match="revoked"):
        access.authenticate(reg.reader, token)
    with pytest.raises(Unauthorized, match="invalid"):
        access.authenticate(reg.reader, "pv_guess")
    with pytest.raises(Unauthorized, match="required"):
        access.authenticate(reg.reader, None)


def test_role_changes_and_expiry_apply_to_existing_tokens(team):
    reg, _ = team
    token = access.create_token(reg, "releaser")[0]
    listed = lambda: [(t["role"], t["created_with_role"]) for t in access.list_tokens(reg, "releaser")]  # noqa: E731
    assert listed() == [("releaser", "releaser")]
    access.set_role(reg, "releaser", "viewer")
    assert access.authenticate(reg.reader, token).role == "viewer"
    assert listed() == [("viewer", "releaser")]  # token list shows the role it acts with now
    access.set_role(reg, "releaser", None)
    with pytest.raises(Unauthorized, match="disabled"):
        access.authenticate(reg.reader, token)
    assert listed() == [(None, "releaser")]
    short = access.create_token(reg, "admin", expires_at=datetime.now(UTC) - timedelta(seconds=1))[0]
    with pytest.raises(Unauthorized, match="expired"):
        access.authenticate(reg.reader, short)


def test_bad_administration_input(team):
    reg, _ = team
    with pytest.raises(InvalidValue, match="unknown role 'boss'"):
        access.add_user(reg, "x", "boss")
    with pytest.raises(InvalidValue, match="already exists"):
        access.add_user(reg, "viewer", "viewer")
