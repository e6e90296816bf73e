"""Docs are checked like code: the CLI reference is generated and current, every command has help."""

import subprocess
import sys

from conftest import REPO


def test_cli_reference_is_up_to_date():
    generated = subprocess.run([sys.executable, str(REPO / "scripts" / "cli_reference.py")],
                               capture_output=True, text=True, check=True).stdout
    assert generated == (REPO / "docs" / "cli.md").read_text(), \
        "docs/cli.md is stale: run `python scripts/cli_reference.py > docs/cli.md`"


def test_every_command_and_parameter_has_help():
    import typer

    from promptver.cli.main import app

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    for path, command in walk(typer.main.get_command(app), "promptver"):
        assert (command.help or "").strip(), f"{path} has no help text"
        for param in command.params:
            assert (getattr(param, "help", "") or "").strip(), f"{path} {param.name} has no help text"


def test_readme_links_resolve():
    import re

    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target
