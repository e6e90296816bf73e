"""`promptver lock`: the pairs refs resolve to, with their full content and hashes, in a lockfile an
app ships and runs from with no registry at all: ``Client(lockfile="promptver.lock")``."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from promptver.cli.common import registry
from promptver.cli.output import emit_json, out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print what was locked as JSON.")]


def register(root: typer.Typer) -> None:
    @root.command("lock")
    def lock(
        refs: Annotated[Optional[list[str]], typer.Argument(
            metavar="[REF]...", help="Refs to lock: NAME@LABEL, NAME/N, a pairing id. None: every current label of every prompt.")] = None,
        output: Annotated[str, typer.Option("-o", "--output", help="The lockfile to write ('-': print it).")] = "promptver.lock",
        as_json: JsonOpt = False,
    ) -> None:
        """Write the pinned pairs of refs, with full content and hashes, to a lockfile for apps."""
        from promptver.errors import InvalidValue, NotFound
        from promptver.runtime import lockfile

        if output == "-" and as_json:
            raise InvalidValue("-o - prints the lockfile itself; leave out --json")
        keys = list(dict.fromkeys(lockfile.canonical_ref(ref) for ref in refs or []))
        with registry() as reg:
            if not refs:  # (the registry database, or a server when PROMPTVER_URL is set)
                keys = [f"{row['name']}@{label}" for row in reg.series("prompt")
                        for label, target in sorted((row.get("labels") or {}).items()) if target]
                if not keys:
                    raise NotFound("no prompt has a label: nothing to lock (name refs, or `promptver label set` first)")
            entries = {key: reg.resolve(key) for key in keys}
        text = lockfile.dumps(entries)
        if output == "-":
            sys.stdout.write(text)
            return
        try:
            lockfile.atomic_write(output, text, mode=0o644)
        except OSError as exc:
            raise InvalidValue(f"cannot write the lockfile {output}: {exc.strerror or exc}") from None
        if as_json:
            emit_json({"lockfile": output, "format": lockfile.FORMAT, "entries": {
                key: {"pairing": r.pairing.id, "prompt": r.pairing.prompt.ref, "model": r.pairing.model.ref,
                      "etag": r.etag} for key, r in sorted(entries.items())}})
            return
        for key, r in sorted(entries.items()):
            out(f"{key}  {r.pairing.id}  {r.pairing.prompt.ref} + {r.pairing.model.ref}")
        out(f"wrote {output} ({len(entries)} pair{'' if len(entries) == 1 else 's'})")
