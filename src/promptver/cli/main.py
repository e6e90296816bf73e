"""The `promptver` application: command groups, and the one place errors are rendered."""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import typer

from promptver.cli import (access_cmds, attribute, endpoints_cmd, evals, fetch, files_cmds, labels, lock, models,
                           prompts, registry_cmds, serve, tui_cmd)
from promptver.cli import datasets as datasets_cmd
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


def _version(value: bool) -> None:
    if value:
        from promptver import __version__

        typer.echo(f"promptver {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", help="Print promptver's version and exit.",
                                          callback=_version, is_eager=True)) -> None:
    """Version prompts and models independently, release pinned pairs through labels, and find out
    which one changed your LLM app's behaviour."""


# registration order is the order of `promptver --help`: set up, version, pair, release, use, check
registry_cmds.register_setup(app)
files_cmds.register(app)
app.add_typer(prompts.app, name="prompt")
app.add_typer(models.app, name="model")
endpoints_cmd.register(app)
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
app.add_typer(datasets_cmd.app, name="dataset")
attribute.register(app)
tui_cmd.register(app)


def main() -> None:
    """Run the command line; the one place an error becomes one line on stderr and an exit code:
    a promptver error its own code; a command-line usage mistake (an unknown option, a value out of
    range) exit 2; an interruption 130; a few low-level failures a user's input can cause (a path
    the system refuses, input nested too deep, a full disk) their plain meaning (``input_problem``);
    anything else is a promptver bug, still one line unless PROMPTVER_DEBUG is set."""
    try:
        code = app(prog_name="promptver", standalone_mode=False)
    except PromptverError as exc:  # its message is ours: a list (sync's bad files) keeps its lines
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:
        if _is_usage_error(exc):
            _usage(exc)
        mapped = input_problem(exc)
        if mapped is not None:
            _fail(*mapped)
        if os.environ.get("PROMPTVER_DEBUG"):
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__}: {_one_line(exc)}\n"
                         "(this is a promptver bug; set PROMPTVER_DEBUG=1 to see the traceback)\n")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.exit(code)


def _one_line(text: object) -> str:
    """An error message as one line (a driver's or a user's text may hold newlines), at most 2,000 characters."""
    line = " ".join(str(text).split("\n")).replace("\r", " ")
    return line if len(line) <= 2000 else line[:1997] + "..."


def _is_usage_error(exc: BaseException) -> bool:
    """A Click usage error (Typer vendors Click, so the class is recognised by what it has)."""
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code") and hasattr(exc, "show")


def _usage(exc: Any) -> None:
    """Click's usage errors as one line naming the command; a group run with no command prints its help."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        sys.stderr.write(exc.format_message() + "\n")
        sys.exit(2)
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    _fail(f"{where}{exc.format_message()}{hint}", exc.exit_code if isinstance(exc.exit_code, int) else 2)


def input_problem(exc: BaseException) -> tuple[str, int] | None:
    """(message, exit code) for a low-level failure that a user's input or machine causes, not a bug:
    a file the system refuses (exit 2), a full disk (exit 3), input nested or sized past what Python
    handles (exit 2). The parsers catch these where they read; this is the net under them."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return f"disk full: {exc.strerror or exc}; free disk space and try again", 3
        if exc.filename is not None or exc.errno in (errno.ENAMETOOLONG, errno.EACCES, errno.EROFS, errno.ENOENT,
                                                     errno.EISDIR, errno.ENOTDIR, errno.ELOOP):
            name = f"{_short(exc.filename)}: " if exc.filename is not None else ""
            return f"{name}{exc.strerror or exc}", 2
        return None
    if isinstance(exc, RecursionError):
        return "the input nests too deeply to be handled", 2
    if isinstance(exc, MemoryError):
        return "out of memory: the input is too large", 2
    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        return r"the input holds a lone surrogate (such as \ud800): not valid Unicode text", 2
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return "the input holds an integer with more digits than Python converts (4300)", 2
    if isinstance(exc, ValueError) and str(exc) == "embedded null byte":
        return "a path or value holds a NUL character", 2
    return None


def _short(name: object) -> str:
    text = str(name)
    return text if len(text) <= 200 else text[:100] + "…" + text[-99:]


if __name__ == "__main__":  # pragma: no cover
    main()
