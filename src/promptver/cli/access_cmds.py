"""`promptver user ...`, `promptver token ...` and `promptver label protect`: access control.

On a local registry these run as the local user (an admin). Tokens are shown once, on stdout.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from promptver.cli.common import parse_at, registry
from promptver.cli.output import emit_json, err, out, table

users_app = typer.Typer(help="Users and roles of a shared registry (viewer, editor, releaser, admin).",
                        no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@users_app.command("add")
def user_add(name: Annotated[str, typer.Argument(help="User name.")],
             role: Annotated[str, typer.Option("--role", help="viewer, editor, releaser or admin.")] = "viewer") -> None:
    """Add a user with a role."""
    with registry() as reg:
        user = reg.add_user(name, role)
    out(f"added user {user['name']} ({user['role']})")


@users_app.command("role")
def user_role(name: Annotated[str, typer.Argument(help="User name.")],
              role: Annotated[str, typer.Argument(help="New role, or 'disabled'.")]) -> None:
    """Change a user's role ('disabled' disables the user and every token of theirs)."""
    with registry() as reg:
        user = reg.set_role(name, None if role == "disabled" else role)
    out(f"user {user['name']} is now {user['role'] or 'disabled'}")


@users_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """Users and their current roles."""
    with registry() as reg:
        rows = reg.users()
    if as_json:
        emit_json(rows)
    else:
        table(["user", "role", "created by"], [[r["name"], r["role"] or "disabled", r["created_by"]] for r in rows])


@tokens_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Whose token (default: you).")] = "",
    role: Annotated[Optional[str], typer.Option("--role", help="Role it carries (at most yours and the user's).")] = None,
    fetch_only: Annotated[bool, typer.Option("--fetch-only", help="Only resolve refs: for apps.")] = False,
    name: Annotated[str, typer.Option("--name", help="What it is for.")] = "",
    expires: Annotated[Optional[str], typer.Option("--expires", help="Expiry time (ISO 8601).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token. It is printed once; only its hash is stored."""
    with registry() as reg:
        token, record = reg.create_token(user or None, role=role, fetch_only=fetch_only, name=name,
                                         expires_at=parse_at(expires))
    if as_json:
        emit_json({"token": token, **record})
        return
    err(f"token {record['id']} for {record['user']} ({record['role']}{', fetch-only' if record['fetch_only'] else ''}); "
        "store it now, it is not shown again:")
    out(token)


@tokens_app.command("list")
def token_list(user: Annotated[Optional[str], typer.Option("--user", help="Only this user's tokens.")] = None,
               as_json: JsonOpt = False) -> None:
    """Tokens (never the tokens themselves: id, prefix, owner, the role it acts with now, state)."""
    with registry() as reg:
        tokens = reg.tokens(user)
    if as_json:
        emit_json(tokens)
        return
    table(["id", "prefix", "user", "role now", "fetch-only", "name", "created", "state"],
          [[str(t["id"]), t["prefix"] + "…", t["user"], _role_now(t), "yes" if t["fetch_only"] else "no",
            t["name"], t["created_at"] or "-", "revoked" if t["revoked"] else "active"] for t in tokens])


def _role_now(token: dict) -> str:
    """The role the token acts with now: its own, capped by its user's current role."""
    if token.get("role") is None:
        return "none (user disabled)"
    created = token.get("created_with_role")
    return token["role"] if created in (None, token["role"]) else f"{token['role']} (created as {created})"


@tokens_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="Token id (from `promptver token list`).")],
                 reason: Annotated[str, typer.Option("--reason", help="Why.")] = "") -> None:
    """Revoke a token: it stops working at once."""
    with registry() as reg:
        record = reg.revoke_token(token_id, reason)
    out(f"token {record['id']} ({record['prefix']}…) of {record['user']} is revoked")


def pin_suite(file: str) -> tuple[str, str]:
    """(the suite's name, its content hash) from a suite file: what a release gate pins."""
    from pathlib import Path

    from promptver.errors import InvalidValue
    from promptver.evals.suite_content import suite_content
    from promptver.evals.suites import load_suite

    path = Path(file)
    if not file.strip() or not path.is_file():
        raise InvalidValue(f"--require-suite {file!r} is not a readable file: give the suite file, e.g. "
                           "evals/support-reply.yaml, so its content can be pinned")
    suite = load_suite(path)
    return suite.name, suite_content(suite).hash


def register_protect(labels_app: typer.Typer) -> None:
    @labels_app.command("protect")
    def protect(
        prompt: Annotated[str, typer.Argument(help="Prompt name, or '*' for every prompt.")],
        label: Annotated[str, typer.Argument(help="Label, e.g. production.")],
        off: Annotated[bool, typer.Option("--off", help="Unprotect instead.")] = False,
        distinct_author: Annotated[bool, typer.Option("--distinct-author", help="The releaser may not be the author of the prompt version.")] = False,
        require_suite: Annotated[Optional[str], typer.Option("--require-suite", metavar="FILE", help="A suite file, e.g. evals/support-reply.yaml: moving the label needs a passing whole-suite run of its content (dataset, scorers, repeats, min_pass_rate; pinned now: an edited file must be pinned again) for the pairing.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Protect a label: only releasers may move it (production is protected by default)."""
        suite_name = content = None
        if require_suite is not None:
            suite_name, content = pin_suite(require_suite)
        with registry() as reg:
            reg.set_label_policy(prompt, label, protected=not off, distinct_author=distinct_author,
                                 require_suite=suite_name, require_suite_hash=content)
        if as_json:
            emit_json({"prompt": prompt, "label": label, "protected": not off, "distinct_author": distinct_author,
                       "require_suite": suite_name, "require_suite_hash": content, "suite_file": require_suite})
            return
        state = "unprotected" if off else "protected" + (" (releaser must not be the author)" if distinct_author else "")
        gate = (f"; moving it needs a passing whole-suite run of eval suite {suite_name!r}, suite content "
                f"{content[:12]} (pinned from {require_suite})" if content else "")
        out(f"{prompt}@{label} is {state}{gate}")
