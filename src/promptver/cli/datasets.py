"""`promptver dataset ...`: list, log, show, diff, export the versioned test cases of eval suites.

Datasets are stored by `promptver eval run` (a suite's dataset file becomes a content-hashed
version). These commands read them, from the database or, with PROMPTVER_URL, through the server.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from promptver.cli.common import registry
from promptver.cli.output import emit_json, out, safe, short, table
from promptver.errors import InvalidRef, InvalidValue

app = typer.Typer(help="Datasets (versioned test cases): list, log, show, diff, export.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SHOWN = 5  # cases `show` prints without --cases


def parse_dataset_ref(text: str) -> tuple[str, int | None]:
    """``NAME`` (the latest version) or ``NAME/N``."""
    from promptver.core.refs import check_name

    name, sep, number = text.partition("/")
    check_name(name, "dataset name")
    if not sep:
        return name, None
    if not number.isdigit() or int(number) < 1 or len(number) > 9:
        raise InvalidRef(f"{text!r}: a dataset version is NAME or NAME/N with N a version number (1, 2, ...)")
    return name, int(number)


# the same reads locally (services.datasets) and over HTTP (RemoteRegistry.dataset_*)
def _summaries(reg: Any) -> list[dict[str, Any]]:
    if hasattr(reg, "dataset_summaries"):
        return reg.dataset_summaries()  # type: ignore[no-any-return]
    from promptver.services import datasets

    return datasets.summaries(reg)


def _history(reg: Any, name: str) -> list[dict[str, Any]]:
    if hasattr(reg, "dataset_history"):
        return reg.dataset_history(name)  # type: ignore[no-any-return]
    from promptver.services import datasets

    return datasets.history(reg, name)


def _detail(reg: Any, ref: str) -> dict[str, Any]:
    name, number = parse_dataset_ref(ref)
    if hasattr(reg, "dataset_detail"):
        return reg.dataset_detail(name, number)  # type: ignore[no-any-return]
    from promptver.services import datasets

    return datasets.detail(reg, name, number)


def _time(value: str | None) -> str:
    return "-" if not value else value.replace("T", " ")[:19] + "Z"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _runs(entry: dict[str, Any]) -> str:
    if not entry["runs"]:
        return "-"
    more = entry["runs"] - len(entry["latest_runs"])
    return ", ".join(r["id"][:12] for r in entry["latest_runs"]) + (f" (+{more})" if more > 0 else "")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List datasets with their latest version, its row count and content hash."""
    with registry() as reg:
        rows = _summaries(reg)
    if as_json:
        emit_json(rows)
        return
    table(["dataset", "owner", "latest", "versions", "rows", "hash", "updated"],
          [[r["name"], r["owner"] or "-", f"v{r['latest']}" if r["latest"] else "-", str(r["versions"]),
            str(r["rows"] if r["rows"] is not None else "-"), short(r["content_hash"] or "-"), _time(r["updated"])]
           for r in rows])


@app.command("log")
def log(name: Annotated[str, typer.Argument(help="A dataset name.")], as_json: JsonOpt = False) -> None:
    """Versions of a dataset, newest first: hash, rows, source, and the eval runs that used each."""
    check, _ = parse_dataset_ref(name)
    if check != name:
        raise InvalidRef(f"{name!r}: `dataset log` takes a dataset name (use `dataset show {name}` for one version)")
    with registry() as reg:
        rows = _history(reg, name)
    if as_json:
        emit_json(rows)
        return
    table(["version", "hash", "rows", "created", "author", "source", "runs", "latest runs"],
          [[f"v{r['version']}", short(r["content_hash"]), str(r["rows"]), _time(r["created_at"]), r["author"],
            r["source"] or "-", str(r["runs"]), _runs(r)] for r in rows])


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME (the latest version) or NAME/N.")],
    cases: Annotated[bool, typer.Option("--cases", help=f"Show every case (default: the first {SHOWN}).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A dataset version: hash, rows, source, the runs that used it, and its first cases (--cases: all)."""
    with registry() as reg:
        found = _detail(reg, ref)
    shown = found["cases"] if cases else found["cases"][:SHOWN]
    if as_json:
        emit_json({**found, "cases": shown})
        return
    for key, value in (("dataset", found["ref"]), ("hash", found["content_hash"]), ("rows", found["rows"]),
                       ("created", _time(found["created_at"])), ("author", found["author"]),
                       ("source", found["source"] or "-"), ("message", found["message"] or "-"),
                       ("runs", f"{found['runs']}" + (f" (latest: {_runs(found)})" if found["runs"] else ""))):
        out(f"{key + ':':9}{safe(value)}")
    out()
    for case in shown:
        line = f"{case['id']}: vars {_json(case['vars'])}"
        line += f"  expected {_json(case['expected'])}" if case["expected"] is not None else ""
        line += f"  metadata {_json(case['metadata'])}" if case["metadata"] else ""
        out(safe(line))
    if len(shown) < len(found["cases"]):
        out(f"... {len(found['cases']) - len(shown)} more (--cases shows all)")


@app.command("diff")
def diff(
    old: Annotated[str, typer.Argument(help="NAME/A, the older version.")],
    new: Annotated[str, typer.Argument(help="NAME/B, the newer version.")],
    as_json: JsonOpt = False,
) -> None:
    """Cases added, removed and changed (by case id, with the changed fields) between two versions."""
    from promptver.services.datasets import diff_cases

    with registry() as reg:
        result = diff_cases(_detail(reg, old), _detail(reg, new))
    if as_json:
        emit_json(result)
        return
    out(f"{result['old']} -> {result['new']}: " + (
        "identical cases" if result["identical"] else
        f"{len(result['added'])} added, {len(result['removed'])} removed, {len(result['changed'])} changed"
        + (", order changed" if result["reordered"] else "")))
    for case_id in result["added"]:
        out(safe(f"+ {case_id}"))
    for case_id in result["removed"]:
        out(safe(f"- {case_id}"))
    for case in result["changed"]:
        out(safe(f"~ {case['id']}"))
        for f in case["fields"]:
            old_value, new_value = (json.dumps(v, ensure_ascii=False) for v in (f["old"], f["new"]))
            detail = {"added": f"added {new_value}", "removed": f"removed (was {old_value})"}.get(
                f["change"], f"{old_value} -> {new_value}")
            out(safe(f"    {f['path']}: {detail}"))


@app.command("export")
def export(
    ref: Annotated[str, typer.Argument(help="NAME (the latest version) or NAME/N.")],
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="Write to this file (default: stdout).")] = None,
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help="jsonl, yaml or csv (default: the file's suffix, else jsonl).")] = None,
) -> None:
    """Write a dataset version as a file the eval suites read back to the same content hash."""
    from promptver.evals.dataset_export import FORMATS, export_text, format_of

    if fmt is not None and fmt not in FORMATS:
        raise InvalidValue(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    implied = format_of(output.name) if output is not None else None
    if output is not None and implied is None:
        raise InvalidValue(f"{output}: a dataset file ends in .jsonl, .yaml, .yml or .csv "
                           "(the suites read it by suffix)")
    if fmt is not None and implied is not None and fmt != implied:
        raise InvalidValue(f"{output}: the suffix says {implied} but --format says {fmt}; "
                           f"the suites read it as {implied}")
    with registry() as reg:
        found = _detail(reg, ref)
    text = export_text(found["cases"], fmt or implied or "jsonl", found["ref"])
    if output is None:
        typer.echo(text, nl=False)
        return
    _write_whole(output, text)
    typer.echo(f"wrote {found['ref']} ({found['rows']} cases, {short(found['content_hash'])}) to {output}", err=True)


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` all at once: a failure leaves no half-written file."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
