"""`promptver tui`: the terminal UI over the registry. Textual is imported only when it runs."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    @root.command("tui")
    def tui() -> None:
        """The terminal UI: browse, edit, diff, release, roll back, evals and attribution (keyboard-first)."""
        from promptver.cli.common import registry

        with registry() as reg:
            from promptver.tui.app import run

            run(reg)
