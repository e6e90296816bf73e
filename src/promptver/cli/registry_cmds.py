"""Registry-wide commands: init, pair, pairings, verify, audit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from promptver.cli.common import local_only, registry
from promptver.cli.output import emit_json, err, out, safe, table, when

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register_setup(root: typer.Typer) -> None:
    """init (sync and pull: cli/files_cmds.py)."""

    @root.command("init")
    def init(
        examples: Annotated[bool, typer.Option("--examples/--no-examples", help="Create example prompts/, models/ and evals/ if absent.")] = True,
    ) -> None:
        """Create the registry (.promptver/registry.db here, or PROMPTVER_DB) and example files."""
        local_only("init")
        from promptver.services.database import Database
        from promptver.services.init import copy_examples
        from promptver.storage.location import REGISTRY_DIR, REGISTRY_FILE

        if os.environ.get("PROMPTVER_DB", "").strip():
            db = Database.open()
            where = db.location
        else:
            folder = Path.cwd() / REGISTRY_DIR
            existed = (folder / REGISTRY_FILE).exists()
            folder.mkdir(exist_ok=True)
            db = Database.open(f"sqlite:///{folder / REGISTRY_FILE}")
            where = f"{REGISTRY_DIR}/{REGISTRY_FILE}" + (" (already there)" if existed else "")
        db.close()
        out(f"registry: {where}")
        if examples:
            for created in copy_examples(Path.cwd()):
                out(f"created {created}")


def register_pairing(root: typer.Typer) -> None:
    """pair, pairings, diff."""

    @root.command("pair")
    def pair(
        prompt_ref: Annotated[str, typer.Argument(help="Prompt version: NAME/N (or NAME for the latest).")],
        model_ref: Annotated[str, typer.Argument(help="Model version: NAME/N (or NAME for the latest).")],
        message: Annotated[str, typer.Option("-m", "--message", help="Why this pairing.")] = "",
        as_json: JsonOpt = False,
    ) -> None:
        """Link a prompt version with a model version; prints the pairing id."""
        with registry() as reg:
            paired = reg.pair(prompt_ref, model_ref, message=message)
        p = paired.pairing
        if as_json:
            emit_json({"created": paired.created, **p.to_json()})
            return
        err(f"{'paired' if paired.created else 'already paired'}: {p.prompt.ref} + {p.model.ref}")
        out(p.id)

    @root.command("pairings")
    def pairings(prompt: Annotated[str, typer.Argument(help="Prompt name.")], as_json: JsonOpt = False) -> None:
        """The pairings of a prompt's versions, newest first."""
        with registry() as reg:
            found = reg.pairings(prompt)
        if as_json:
            emit_json([p.to_json() for p in found])
            return
        table(["pairing", "prompt", "model", "created", "by", "message"],
              [[p.id, p.prompt.ref, p.model.ref, when(p.created_at), p.author, p.message] for p in found])

    @root.command("diff")
    def diff(old: Annotated[str, typer.Argument(help="The pairing before: a pairing id or NAME@LABEL.")],
             new: Annotated[str, typer.Argument(help="The pairing after: a pairing id or NAME@LABEL.")],
             as_json: JsonOpt = False) -> None:
        """What changed between two pairings, both halves: prompt text and fields, model id, parameters, lineage."""
        from promptver.core.diff import diff_pairings

        with registry() as reg:
            result = diff_pairings(reg.resolve(old).pairing, reg.resolve(new).pairing)
        if as_json:
            emit_json(result.to_json())
            return
        for line in result.lines():
            out(safe(line))



def register_checks(root: typer.Typer) -> None:
    """verify, audit."""

    @root.command("verify")
    def verify(
        head: Annotated[bool, typer.Option("--head", help="Print the chain head to export (a one-line token, then each chain's row count and head; with --json, JSON) and nothing else on stdout; nothing when a problem is found.")] = False,
        expect_head: Annotated[Optional[str], typer.Option("--expect-head", metavar="HEAD", help="A head exported earlier (the ph1:... token, or a file holding `verify --head` output): each chain at its exported count must still end in it.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Walk every hash chain, re-hash every version, check the guards' definitions; exit 1 on any problem."""
        local_only("verify")
        from promptver.services.database import Database
        from promptver.services.verify import load_expected
        from promptver.services.verify import verify as run

        expected = load_expected(expect_head) if expect_head is not None else None
        db = Database.open(check_guards=False)
        try:
            report = run(db, expected)
        finally:
            db.close()
        if head:  # stdout holds only the head, so `promptver verify --head > head.txt` exports it
            for problem in report.problems:
                err(f"PROBLEM {safe(problem)}")
            if report.ok and as_json:
                emit_json(report.head_json())
            elif report.ok:
                out(report.token)
                for name, (count, last) in report.chains.items():
                    out(f"{name} {count} {last or '-'}")
        elif as_json:
            emit_json({"ok": report.ok, "checked": report.checked, "problems": report.problems,
                       "head": report.head_json()})
        else:
            out("checked:")
            for line in report.summary():
                out(f"  {line}")
            out(f"head {report.token}")
            for problem in report.problems:
                out(f"PROBLEM {safe(problem)}")
            out("ok: every chain, stored hash and guard checked above is as written" if report.ok
                else f"{len(report.problems)} problem(s) found")
        if not report.ok:
            raise typer.Exit(1)

    @root.command("audit")
    def audit(
        limit: Annotated[int, typer.Option("--limit", min=1, help="How many events, newest first.")] = 50,
        action: Annotated[Optional[str], typer.Option("--action", help="Only this action (prompt.push, label.*, ...).")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The audit log: every write, with actor and time, newest first."""
        with registry() as reg:
            events = reg.audit_log(limit, action)
        if as_json:
            emit_json([e.to_json() for e in events])
            return
        table(["when", "actor", "action", "target"],
              [[when(e.at), e.actor, e.action, e.target] for e in events])
