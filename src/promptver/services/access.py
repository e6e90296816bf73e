"""Who may do what: users, roles, API tokens, protected labels.

Roles, each including the ones before it::

    viewer     read prompts, models, pairings, labels, history
    editor     + push versions, pair, annotate, move unprotected labels
    releaser   + move protected labels (default: ``production``)
    admin      + users, roles, everyone's tokens, label policies, the audit log

A token carries a role no higher than its creator's, and is checked against its user's *current*
role at every use (demoting a user demotes their tokens). Fetch-only tokens (for apps) may only
resolve refs. Only a token's sha256 is stored; the token itself is shown once. A local registry
used without a server has one implicit admin: the local user. Refused attempts are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promptver.core.refs import check_name
from promptver.core.types import iso
from promptver.errors import Forbidden, InvalidValue, NotFound, Unauthorized
from promptver.storage.reader import AccessReader

ROLES = ("viewer", "editor", "releaser", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
ACTIONS = {  # action -> the lowest role allowed
    "fetch": "viewer", "read": "viewer", "write": "editor", "release": "editor", "admin": "admin",
}
DEFAULT_PROTECTED = ("production",)
TOKEN_PREFIX = "pv_"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    fetch_only: bool = False
    token_id: int | None = None
    local: bool = False

    def can(self, action: str) -> bool:
        if self.fetch_only and action != "fetch":
            return False
        return RANK[self.role] >= RANK[ACTIONS[action]]


def local_principal(actor: str) -> Principal:
    """The single user of a local registry (no server): no tokens, every right."""
    return Principal(actor, "admin", local=True)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str) -> str:
    if role not in RANK:
        raise InvalidValue(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def authenticate(reader: Any, token: str | None) -> Principal:
    """The principal behind a bearer token; Unauthorized if missing, unknown, revoked or expired."""
    if not token:
        raise Unauthorized("an API token is required: send Authorization: Bearer TOKEN (or set PROMPTVER_TOKEN)")
    row = AccessReader(reader).token_by_hash(hash_token(token.strip()))
    if row is None:
        raise Unauthorized("invalid API token")
    if row["revoked"]:
        raise Unauthorized(f"API token {row['prefix']}… was revoked")
    expires = row["expires_at"]
    if expires is not None:
        expires = datetime.fromisoformat(expires) if isinstance(expires, str) else expires
        if (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) <= datetime.now(UTC):
            raise Unauthorized(f"API token {row['prefix']}… has expired")
    user_role = row["user_role"]
    if user_role is None:
        raise Unauthorized(f"user {row['user_name']} is disabled")
    role = min(row["role"], user_role, key=RANK.__getitem__)
    return Principal(row["user_name"], role, bool(row["fetch_only"]), row["id"])


def deny(reg: Any, action: str, target: str, why: str) -> Forbidden:
    """Audit a refused attempt (its own transaction: nothing else is written) and return the error."""
    from promptver.services.registry import audit

    principal = reg.principal
    reg.db.write(lambda conn: audit(conn, principal.name, "denied", target, attempted=action, role=principal.role,
                                    reason=why))
    return Forbidden(why)


def require(reg: Any, action: str, target: str = "") -> None:
    principal = reg.principal
    if not principal.can(action):
        kind = "a fetch-only token" if principal.fetch_only else f"role {principal.role}"
        raise deny(reg, action, target, f"{principal.name} ({kind}) may not {action}"
                                        + (f" {target}" if target else "")
                                        + f": it needs role {ACTIONS[action]} or higher")


def label_policy(reader: Any, prompt: str, label: str) -> tuple[bool, bool, str | None]:
    """(protected, distinct_author, required suite) for a label of a prompt."""
    row = AccessReader(reader).label_policy(prompt, label)
    if row is None:
        return label in DEFAULT_PROTECTED, False, None
    return bool(row["protected"]), bool(row["distinct_author"]), row.get("require_suite")


def authorize_label_move(reg: Any, prompt: str, label: str, target: Any) -> None:
    """Editors move labels; protected ones need a releaser (and, if so set, not the version's author)."""
    where = f"{prompt}@{label}"
    require(reg, "release", where)
    protected, distinct, suite = label_policy(reg.reader, prompt, label)
    principal = reg.principal
    if protected and RANK[principal.role] < RANK["releaser"]:
        raise deny(reg, "release", where, f"label {label!r} is protected: only releasers may move it "
                                          f"({principal.name} is {principal.role})")
    if protected and distinct and target is not None and target.prompt.author == principal.name:
        raise deny(reg, "release", where, f"label {label!r} requires a second person: {principal.name} authored "
                                          f"{target.prompt.ref} and may not release it")
    if suite and target is not None:
        from promptver.errors import ReleaseGateFailed
        from promptver.storage.reader import EvalReader

        run_id, why = EvalReader(reg.reader).passing_run(suite, target.id)
        if run_id is None:
            denied = deny(reg, "release", where, f"label {label!r} requires a passing run of eval suite {suite!r} "
                                                 f"for pairing {target.id}: {why}")
            raise ReleaseGateFailed(denied.message)


# -- administration ------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def add_user(reg: Any, name: str, role: str) -> dict[str, Any]:
    from promptver.services.registry import audit
    from promptver.storage import writes

    require(reg, "admin", f"user {name}")
    check_name(name, "user name")
    check_role(role)
    if AccessReader(reg.reader).user(name) is not None:
        raise InvalidValue(f"user {name!r} already exists (change a role with `promptver user role`)")

    def work(conn: Any) -> None:
        user_id = writes.insert_user(conn, name=name, created_by=reg.actor, created_at=_now())
        writes.insert_grant(conn, user_id=user_id, role=role, actor=reg.actor, created_at=_now())
        audit(conn, reg.actor, "user.add", name, role=role)

    reg.db.write(work)
    return AccessReader(reg.reader).user(name)  # type: ignore[return-value]


def set_role(reg: Any, name: str, role: str | None) -> dict[str, Any]:
    """Grant a new role (None disables the user and with it every token of theirs)."""
    from promptver.services.registry import audit
    from promptver.storage import writes

    require(reg, "admin", f"user {name}")
    if role is not None:
        check_role(role)
    user = AccessReader(reg.reader).user(name)
    if user is None:
        raise NotFound(f"no user named {name!r}")

    def work(conn: Any) -> None:
        writes.insert_grant(conn, user_id=user["id"], role=role, actor=reg.actor, created_at=_now())
        audit(conn, reg.actor, "user.role", name, role=role, previous=user["role"])

    reg.db.write(work)
    return AccessReader(reg.reader).user(name)  # type: ignore[return-value]


def create_token(reg: Any, user: str, *, role: str | None = None, fetch_only: bool = False, name: str = "",
                 expires_at: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """Make a token for ``user``; returns (the token, shown once; its stored record)."""
    from promptver.services.registry import audit
    from promptver.storage import writes

    principal = reg.principal
    owner = AccessReader(reg.reader).user(user)
    if owner is None:
        raise NotFound(f"no user named {user!r} (an admin adds users with `promptver user add`)")
    if user != principal.name:
        require(reg, "admin", f"token for {user}")
    elif principal.fetch_only:
        raise deny(reg, "token.create", f"token for {user}", "a fetch-only token cannot create tokens")
    if owner["role"] is None:
        raise InvalidValue(f"user {user} is disabled")
    role = check_role(role or owner["role"])
    ceiling = min(principal.role, owner["role"], key=RANK.__getitem__)
    if RANK[role] > RANK[ceiling]:
        raise deny(reg, "token.create", f"token for {user}",
                   f"a token cannot carry more rights than its creator or its user: {role} > {ceiling}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def work(conn: Any) -> int:
        token_id = writes.insert_token(conn, token_hash=hash_token(token), prefix=token[:10], user_id=owner["id"],
                                       role=role, fetch_only=fetch_only, name=name, created_by=reg.actor,
                                       created_at=_now(), expires_at=expires_at)
        audit(conn, reg.actor, "token.create", f"token {token_id} for {user}", role=role, fetch_only=fetch_only)
        return token_id

    token_id = reg.db.write(work)
    record = next(t for t in AccessReader(reg.reader).tokens(user) if t["id"] == token_id)
    return token, token_json(record)


def list_tokens(reg: Any, user: str | None = None) -> list[dict[str, Any]]:
    principal = reg.principal
    if user != principal.name:
        require(reg, "admin", "tokens" if user is None else f"tokens of {user}")
    return [token_json(t) for t in AccessReader(reg.reader).tokens(user)]


def revoke_token(reg: Any, token_id: int, reason: str = "") -> dict[str, Any]:
    from promptver.services.registry import audit
    from promptver.storage import writes

    found = next((t for t in AccessReader(reg.reader).tokens() if t["id"] == token_id), None)
    if found is None:
        raise NotFound(f"no token with id {token_id}")
    if found["user_name"] != reg.principal.name:
        require(reg, "admin", f"token {token_id}")
    if found["revoked"]:
        return token_json(found)

    def work(conn: Any) -> None:
        writes.insert_revocation(conn, token_id=token_id, actor=reg.actor, reason=reason, created_at=_now())
        audit(conn, reg.actor, "token.revoke", f"token {token_id} of {found['user_name']}", reason=reason)

    reg.db.write(work)
    return token_json(next(t for t in AccessReader(reg.reader).tokens() if t["id"] == token_id))


def set_label_policy(reg: Any, prompt: str, label: str, *, protected: bool, distinct_author: bool = False,
                     require_suite: str | None = None) -> None:
    from promptver.services.registry import audit
    from promptver.storage import writes

    require(reg, "admin", f"{prompt}@{label}")
    if prompt != "*":
        check_name(prompt, "prompt name")
    check_name(label, "label")

    def work(conn: Any) -> None:
        writes.insert_label_policy(conn, prompt=prompt, label=label, protected=protected,
                                   distinct_author=distinct_author, require_suite=require_suite, actor=reg.actor,
                                   created_at=_now())
        audit(conn, reg.actor, "label.policy", f"{prompt}@{label}", protected=protected,
              distinct_author=distinct_author, require_suite=require_suite)

    reg.db.write(work)


def token_json(row: dict[str, Any]) -> dict[str, Any]:
    def t(value: Any) -> str | None:
        if value is None:
            return None
        value = datetime.fromisoformat(value) if isinstance(value, str) else value
        return iso(value if value.tzinfo else value.replace(tzinfo=UTC))

    return {"id": row["id"], "prefix": row["prefix"], "user": row["user_name"], "role": row["role"],
            "fetch_only": bool(row["fetch_only"]), "name": row["name"], "created_by": row["created_by"],
            "created_at": t(row["created_at"]), "expires_at": t(row["expires_at"]), "revoked": bool(row["revoked"])}
