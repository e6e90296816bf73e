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
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promptver.core.refs import check_name
from promptver.core.secrets import refuse_secrets
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


@dataclass(frozen=True)
class LabelPolicy:
    protected: bool
    distinct_author: bool = False
    require_suite: str | None = None       # the gate's suite name (for messages and its runs of other content)
    require_suite_hash: str | None = None  # the suite content the gate pins (evals/suite_content.py)


def label_policy(reader: Any, prompt: str, label: str) -> LabelPolicy:
    """The policy of a label of a prompt (its own, else the label's on every prompt, else the default)."""
    row = AccessReader(reader).label_policy(prompt, label)
    if row is None:
        return LabelPolicy(label in DEFAULT_PROTECTED)
    return LabelPolicy(bool(row["protected"]), bool(row["distinct_author"]), row.get("require_suite"),
                       row.get("require_suite_hash"))


@dataclass(frozen=True)
class MoveCheck:
    """What authorizing a label move decided, for its label event and audit event.

    ``rollback_seq``: the target is a pairing this label pointed at before (its latest such event):
    a rollback, which the release gate and the four-eyes rule do not apply to (the pairing was
    released once already). ``gate_override``: the gate's refusal that an admin's ``force`` overrode."""

    rollback_seq: int | None = None
    gate_skipped: bool = False
    gate_override: str | None = None

    def audit_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.rollback_seq is not None:
            details["rollback_to_seq"] = self.rollback_seq
        if self.gate_skipped:
            details["gate"] = (f"not applied: a rollback to a pairing this label pointed at before "
                               f"(event {self.rollback_seq})")
        if self.gate_override is not None:
            details["forced"] = True
            details["gate_override"] = self.gate_override
        return details


def authorize_label_move(reg: Any, prompt: str, label: str, target: Any, *, force: bool = False,
                         reason: str = "") -> MoveCheck:
    """Editors move labels; protected ones need a releaser (and, if so set, not the version's author);
    a gated one needs a passing whole-suite run of the pinned suite content for the target pairing.

    A rollback (the target is a pairing this label pointed at in an earlier event) needs the same
    role but neither the gate nor the four-eyes rule. ``force`` (admins only, with a ``reason``)
    moves a gated label past a refusing gate; the refusal is returned to be kept with the move."""
    where = f"{prompt}@{label}"
    if force and not reason.strip():
        raise InvalidValue("--force needs --reason: say why the release gate is overridden "
                           "(it is kept in the label's history and the audit log)")
    require(reg, "release", where)
    policy = label_policy(reg.reader, prompt, label)
    principal = reg.principal
    if force and RANK[principal.role] < RANK["admin"]:
        raise deny(reg, "release.force", where, f"only admins may force a release past the release gate "
                                                f"({principal.name} is {principal.role}); without --force the "
                                                "gate applies")
    if policy.protected and RANK[principal.role] < RANK["releaser"]:
        raise deny(reg, "release", where, f"label {label!r} is protected: only releasers may move it "
                                          f"({principal.name} is {principal.role})")
    if target is None:
        return MoveCheck()
    rollback_seq = _pointed_at_before(reg, prompt, label, target.id)
    if rollback_seq is not None:
        return MoveCheck(rollback_seq, gate_skipped=bool(policy.require_suite or policy.require_suite_hash))
    if policy.protected and policy.distinct_author and target.prompt.author == principal.name:
        raise deny(reg, "release", where, f"label {label!r} requires a second person: {principal.name} authored "
                                          f"{target.prompt.ref} and may not release it")
    refusal = gate_refusal(reg, prompt, label, target.id, policy)
    if refusal is None:
        return MoveCheck()
    if force:
        return MoveCheck(gate_override=refusal)
    from promptver.errors import ReleaseGateFailed

    raise ReleaseGateFailed(deny(reg, "release", where, refusal).message)


def _pointed_at_before(reg: Any, prompt: str, label: str, pairing_id: str) -> int | None:
    """The seq of the latest event of this label that pointed it at ``pairing_id``, or None."""
    seqs = [e.seq for e in reg.reader.label_history(prompt, label) if e.pairing_id == pairing_id]
    return max(seqs) if seqs else None


def gate_refusal(reg: Any, prompt: str, label: str, pairing_id: str, policy: LabelPolicy) -> str | None:
    """Why the release gate refuses ``pairing_id`` (None: no gate, or it passes)."""
    suite, pinned = policy.require_suite, policy.require_suite_hash
    if not suite and not pinned:
        return None
    repin = f"promptver label protect {prompt} {label} --require-suite FILE"
    name = f"eval suite {suite!r}" if suite else "the pinned eval suite"
    if not pinned:
        return (f"label {label!r} requires a passing run of {name} for pairing {pairing_id}, but its policy names "
                "the suite without pinning its content (it was set before suite contents were pinned), so no run "
                f"can show it ran that suite: an admin must pin the suite file's content with `{repin}`")
    from promptver.storage.eval_reader import EvalReader

    run_id, why = EvalReader(reg.reader).passing_run(suite or "", pairing_id, pinned, repin=repin)
    if run_id is not None:
        return None
    return (f"label {label!r} requires a passing run of {name} (suite content {pinned[:12]}) for pairing "
            f"{pairing_id}: {why}")


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
    name, expires_at = _token_fields(name, expires_at)
    refuse_secrets(name, "token name", names=False)
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


def _token_fields(name: str, expires_at: datetime | None) -> tuple[str, datetime | None]:
    """A token's name (storable text, at most 200 characters) and expiry (with a time zone, in UTC)."""
    from promptver.core.limits import MAX_SHORT_TEXT, check_text
    from promptver.core.refs import utc_time

    return (check_text(name or "", "token name", MAX_SHORT_TEXT),
            None if expires_at is None else utc_time(expires_at, "token expiry"))


def list_tokens(reg: Any, user: str | None = None) -> list[dict[str, Any]]:
    principal = reg.principal
    if user != principal.name:
        require(reg, "admin", "tokens" if user is None else f"tokens of {user}")
    return [token_json(t) for t in AccessReader(reg.reader).tokens(user)]


def revoke_token(reg: Any, token_id: int, reason: str = "") -> dict[str, Any]:
    from promptver.services.registry import audit
    from promptver.storage import writes

    refuse_secrets(reason, "reason", names=False)
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
                     require_suite: str | None = None, require_suite_hash: str | None = None) -> None:
    """Write a label's policy (admins). ``require_suite_hash``: the suite content the release gate
    pins, computed from the suite file where the file is (the CLI); stored as given."""
    from promptver.services.registry import audit
    from promptver.storage import writes

    require(reg, "admin", f"{prompt}@{label}")
    if prompt != "*":
        check_name(prompt, "prompt name")
    check_name(label, "label")
    if require_suite_hash is not None:
        require_suite_hash = require_suite_hash.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", require_suite_hash):
            raise InvalidValue("require_suite_hash must be a suite content hash: 64 hex digits "
                               "(`promptver label protect ... --require-suite FILE` computes it)")
        if not require_suite:
            raise InvalidValue("require_suite_hash needs require_suite, the name of the suite it pins")

    def work(conn: Any) -> None:
        writes.insert_label_policy(conn, prompt=prompt, label=label, protected=protected,
                                   distinct_author=distinct_author, require_suite=require_suite,
                                   require_suite_hash=require_suite_hash, actor=reg.actor, created_at=_now())
        audit(conn, reg.actor, "label.policy", f"{prompt}@{label}", protected=protected,
              distinct_author=distinct_author, require_suite=require_suite, require_suite_hash=require_suite_hash)

    reg.db.write(work)


def token_json(row: dict[str, Any]) -> dict[str, Any]:
    def t(value: Any) -> str | None:
        if value is None:
            return None
        value = datetime.fromisoformat(value) if isinstance(value, str) else value
        return iso(value if value.tzinfo else value.replace(tzinfo=UTC))

    user_role = row.get("user_role", row["role"])  # the user's current role caps the token's (None: disabled)
    role = None if user_role is None else min(row["role"], user_role, key=RANK.__getitem__)
    return {"id": row["id"], "prefix": row["prefix"], "user": row["user_name"], "role": role,
            "created_with_role": row["role"],
            "fetch_only": bool(row["fetch_only"]), "name": row["name"], "created_by": row["created_by"],
            "created_at": t(row["created_at"]), "expires_at": t(row["expires_at"]), "revoked": bool(row["revoked"])}
