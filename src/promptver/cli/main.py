"""The `promptver` application: command groups, and the one place errors are rendered."""

from __future__ import annotations

import os
import sys

import typer

from promptver.cli import (access_cmds, attribute, evals, fetch, labels, lock, models, prompts, registry_cmds, serve,
                           tui_cmd)
from promptver.errors import PromptverError

app = typer.Typer(
    name="promptver",
    help="Version prompts and models independently, release pinned pairs through labels, "
    "and find out which one changed your LLM app's behaviour.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# registration order is the order of `promptver --help`: set up, version, pair, release, use, check
registry_cmds.register_setup(app)
app.add_typer(prompts.app, name="prompt")
app.add_typer(models.app, name="model")
registry_cmds.register_pairing(app)
app.add_typer(labels.app, name="label")
labels.register(app)
fetch.register(app)
lock.register(app)
registry_cmds.register_checks(app)
access_cmds.register_protect(labels.app)
app.add_typer(access_cmds.users_app, name="user")
app.add_typer(access_cmds.tokens_app, name="token")
serve.register(app)
app.add_typer(evals.app, name="eval")
attribute.register(app)
tui_cmd.register(app)


def main() -> None:
    try:
        app(prog_name="promptver")
    except PromptverError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:  # a bug in promptver: still no traceback for the user
        if os.environ.get("PROMPTVER_DEBUG"):
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc}\n"
                         "(this is a promptver bug; set PROMPTVER_DEBUG=1 to see the traceback)\n")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
