"""`promptver lock`: the pairs refs resolve to, with their full content and hashes, in a lockfile an
app ships and runs from with no registry at all: ``Client(lockfile="promptver.lock")``.

Also: ``--check`` (does the lockfile still match what its refs resolve to? exit 0 / 1 / 2),
``--sign KEYFILE`` (an Ed25519 signature inside the lockfile, checked by
``Client(lockfile=..., public_key=...)``) and ``--keygen PATH`` (a key pair). docs/runtime.md.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from promptver.cli.common import registry
from promptver.cli.output import emit_json, out, safe

JsonOpt = Annotated[bool, typer.Option("--json", help="Print what was locked (or checked) as JSON.")]


def register(root: typer.Typer) -> None:
    @root.command("lock")
    def lock(
        refs: Annotated[Optional[list[str]], typer.Argument(
            metavar="[REF]...", help="Refs to lock: NAME@LABEL, NAME/N, a pairing id. None: every current label of every prompt.")] = None,
        output: Annotated[str, typer.Option("-o", "--output", help="The lockfile to write ('-': print it); with --check, the lockfile to check.")] = "promptver.lock",
        check: Annotated[bool, typer.Option("--check", help="Compare the lockfile with what its refs resolve to now: exit 0 in step, 1 when one moved (each is named), 2 on a bad file.")] = False,
        sign: Annotated[Optional[str], typer.Option("--sign", metavar="KEYFILE", help="Sign the lockfile with this Ed25519 private key (PEM; make one with --keygen). Needs promptver[sign].")] = None,
        public_key: Annotated[Optional[str], typer.Option("--public-key", metavar="PUBFILE", help="With --check: the lockfile's signature must also verify with this public key.")] = None,
        keygen: Annotated[Optional[str], typer.Option("--keygen", metavar="PATH", help="Write a new Ed25519 key pair, PATH (private, mode 0600) and PATH.pub, and stop.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Write the pinned pairs of refs, with full content and hashes, to a lockfile for apps."""
        from promptver.errors import InvalidValue

        if keygen is not None:
            if refs or check or sign or public_key:
                raise InvalidValue("--keygen only makes a key pair: give it alone")
            _keygen(keygen, as_json)
        elif check:
            if refs or sign:
                raise InvalidValue("--check checks every entry of the lockfile (-o): give no refs and no --sign")
            if output == "-":
                raise InvalidValue("--check reads a lockfile: name it with -o FILE")
            raise typer.Exit(_check(output, public_key, as_json))
        elif public_key:
            raise InvalidValue("--public-key goes with --check (an app gives it to Client(public_key=...))")
        else:
            _write(refs or [], output, sign, as_json)


def _write(refs: list[str], output: str, sign: str | None, as_json: bool) -> None:
    from promptver.errors import InvalidValue, NotFound
    from promptver.runtime import lockfile

    if output == "-" and as_json:
        raise InvalidValue("-o - prints the lockfile itself; leave out --json")
    private_key = None
    if sign is not None:  # read before the registry is asked: a bad key stops here
        from promptver.runtime.signing import load_private_key

        private_key = load_private_key(sign)
    keys = list(dict.fromkeys(lockfile.canonical_ref(ref) for ref in refs))
    with registry() as reg:
        if not refs:  # (the registry database, or a server when PROMPTVER_URL is set)
            keys = [f"{row['name']}@{label}" for row in reg.series("prompt")
                    for label, target in sorted((row.get("labels") or {}).items()) if target]
            if not keys:
                raise NotFound("no prompt has a label: nothing to lock (name refs, or `promptver label set` first)")
        entries = {key: reg.resolve(key) for key in keys}
    text = lockfile.dumps(entries, sign_with=private_key)
    if output == "-":
        sys.stdout.write(text)
        return
    try:
        lockfile.atomic_write(output, text, mode=0o644)
    except OSError as exc:
        raise InvalidValue(f"cannot write the lockfile {output}: {exc.strerror or exc}") from None
    if as_json:
        emit_json({"lockfile": output, "format": lockfile.FORMAT, "signed": private_key is not None, "entries": {
            key: _summary(r) for key, r in sorted(entries.items())}})
        return
    for key, r in sorted(entries.items()):
        out(f"{key}  {r.pairing.id}  {r.pairing.prompt.ref} + {r.pairing.model.ref}")
    signed = ", signed" if private_key is not None else ""
    out(f"wrote {output} ({len(entries)} pair{'' if len(entries) == 1 else 's'}{signed})")


def _check(path: str, public_key: str | None, as_json: bool) -> int:
    """0 when every entry still resolves to its pairing, 1 when one does not."""
    from promptver.errors import UsageError
    from promptver.runtime import lockfile

    key = None
    if public_key is not None:
        from promptver.runtime.signing import load_public_key

        key = load_public_key(public_key)
    doc, signed_by = lockfile.read_doc(path, key)
    locked = lockfile.verify_entries(doc["entries"], path)
    rows: list[dict[str, Any]] = []
    with registry() as reg:
        for ref, was in sorted(locked.items()):
            try:
                now, error = reg.resolve(ref), None
            except UsageError as exc:  # the label was removed, the prompt is gone, NAME/N has two pairings now
                now, error = None, exc.message
            rows.append({"ref": ref, "locked": _summary(was), "current": _summary(now) if now else None,
                         "error": error, "moved": now is None or now.pairing.id != was.pairing.id})
    moved = [row for row in rows if row["moved"]]
    if as_json:
        emit_json({"lockfile": path, "in_step": not moved, "signed_by": signed_by, "entries": rows})
        return 1 if moved else 0
    for row in moved:
        locked_text = f"locked {_pair_text(row['locked'])}"
        now_text = _pair_text(row["current"]) if row["current"] else f"no pairing: {safe(row['error'])}"
        out(f"{row['ref']}  moved: {locked_text}, now {now_text}")
    signature = f"; signature verified (key {signed_by})" if signed_by else ""
    if moved:
        out(f"{path} no longer matches the registry: {len(moved)} of {len(rows)} "
            f"entr{'y' if len(rows) == 1 else 'ies'} moved{signature}")
        return 1
    out(f"{path} matches the registry: {len(rows)} entr{'y' if len(rows) == 1 else 'ies'} in step{signature}")
    return 0


def _keygen(path: str, as_json: bool) -> None:
    from promptver.runtime.signing import keygen

    private_path, public_path, key_id = keygen(path)
    if as_json:
        emit_json({"private_key": str(private_path), "public_key": str(public_path), "key_id": key_id})
        return
    out(f"wrote {private_path} (private key: keep it secret, e.g. in CI's secret store; sign with --sign {private_path})")
    out(f"wrote {public_path} (public key {key_id}: ship it with the app, Client(public_key=...))")


def _summary(resolved: Any) -> dict[str, Any]:
    p = resolved.pairing
    return {"pairing": p.id, "prompt": p.prompt.ref, "model": p.model.ref, "etag": resolved.etag}


def _pair_text(summary: dict[str, Any]) -> str:
    return f"{summary['pairing']} ({summary['prompt']} + {summary['model']})"
