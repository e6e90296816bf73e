"""Registry speed: resolving a label, reading a version, pushing a version, moving a label.

Run: ``python bench/bench_registry.py [--quick]``. Every registry is a fresh one in a temp folder
(the embedded SQLite registry); when ``PROMPTVER_TEST_PG_URL`` is set, pushing is also measured on
PostgreSQL in a fresh schema that is dropped afterwards. Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from promptver.services import labels
from promptver.services.registry import Registry
from promptver.templates.specs import PromptSpec

from figures import table  # bench/figures.py

NAME = "support-reply"
MODEL = "openai/gpt-4o-2024-08-06"
API_VERSIONS = 3  # versions pushed through the API before bulk-inserting the rest


@dataclass
class Figure:
    what: str
    median_ms: float
    p99_ms: float
    target_ms: float | None
    n: int
    samples: list[int] = field(default_factory=list, repr=False)

    def row(self) -> list[str]:
        if self.target_ms is None:
            target, met = "-", "-"
        else:
            target, met = f"< {self.target_ms:g}", "yes" if self.median_ms < self.target_ms else "NO"
        return [self.what, str(self.n), f"{self.median_ms:.3f}", f"{self.p99_ms:.3f}", target, met]


def p99(samples: list[int]) -> int:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def measure(what: str, fn: Callable[[int], object], n: int, target_ms: float | None, warmup: int = 50) -> Figure:
    """Call ``fn(i)`` ``warmup`` times, then ``n`` times timed; median and p99 in ms."""
    for i in range(warmup):
        fn(-1 - i)
    samples: list[int] = []
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        samples.append(time.perf_counter_ns() - start)
    return Figure(what, statistics.median(samples) / 1e6, p99(samples) / 1e6, target_ms, n, samples)


def spec(text: str) -> PromptSpec:
    return PromptSpec(NAME, [{"role": "system", "content": f"You are a support agent for {{{{ company }}}}. {text}"},
                             {"role": "user", "content": "{{ question }}"}])


@contextmanager
def sqlite_registry() -> Iterator[tuple[Registry, Path]]:
    with tempfile.TemporaryDirectory(prefix="pv-bench-") as tmp:
        path = Path(tmp) / ".promptver" / "registry.db"
        path.parent.mkdir()
        reg = Registry.open(f"sqlite:///{path}", actor="bench")
        try:
            yield reg, path
        finally:
            reg.close()


@contextmanager
def pg_registry(base: str) -> Iterator[Registry]:
    import psycopg

    schema = "pv_bench_" + uuid.uuid4().hex[:10]
    plain = "postgresql://" + base.split("://", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        reg = Registry.open(f"{base}{sep}options=-csearch_path%3D{schema}", actor="bench")
        try:
            yield reg
        finally:
            reg.close()
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def bulk_insert(path: Path, total: int) -> None:
    """Grow the series to ``total`` versions with raw SQL in one transaction, copying the newest row."""
    conn = sqlite3.connect(path)
    try:
        conn.row_factory = sqlite3.Row
        last = conn.execute("SELECT * FROM prompt_versions ORDER BY id DESC LIMIT 1").fetchone()
        cols = last.keys()
        next_id = conn.execute("SELECT max(id) FROM prompt_versions").fetchone()[0] + 1

        def rows() -> Iterator[tuple[object, ...]]:
            parent = last["id"]
            for offset, number in enumerate(range(last["version"] + 1, total + 1)):
                row = dict(last, id=next_id + offset, version=number, parent_id=parent,
                           content_hash=hashlib.sha256(f"bench-{number}".encode()).hexdigest(),
                           message=f"bulk {number}")
                parent = row["id"]
                yield tuple(row[c] for c in cols)

        sql = f"INSERT INTO prompt_versions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with conn:
            conn.executemany(sql, rows())
    finally:
        conn.close()


def build_series(reg: Registry, path: Path, size: int) -> None:
    """``size`` versions of NAME, the newest paired with a model and labelled production."""
    for i in range(min(size, API_VERSIONS)):
        reg.push_prompt(spec(f"v{i}"))
    if size > API_VERSIONS:
        bulk_insert(path, size)
    reg.add_model("support-llm", MODEL)
    pairing = reg.pair(f"{NAME}/{size}", "support-llm/1").pairing
    labels.move(reg, NAME, "production", pairing.id, reason="bench")
    assert reg.resolve(f"{NAME}@production").pairing.prompt.version == size
    assert reg.prompt_version(f"{NAME}/1").version == 1


def bench_reads(sizes: tuple[int, ...], n: int, rounds: int = 5) -> list[Figure]:
    """Every read on every series size, interleaved in ``rounds`` so that background load on the
    machine hits all sizes alike (the point is to compare them)."""
    Case = tuple[str, Callable[[int], object], float | None]
    with ExitStack() as stack:
        cases: list[Case] = []
        for size in sizes:
            reg, path = stack.enter_context(sqlite_registry())
            build_series(reg, path, size)
            cases += [
                (f"resolve {NAME}@production ({size:,} versions)",
                 lambda _, r=reg: r.resolve(f"{NAME}@production"), 0.3),
                # the Reader caches immutable versions and pairings by id; this one reads them too
                (f"resolve {NAME}@production, no row cache ({size:,})",
                 lambda _, r=reg: (r.reader._immutable.clear(), r.resolve(f"{NAME}@production")), 0.3),
                (f"prompt_version {NAME}/1 ({size:,})", lambda _, r=reg: r.prompt_version(f"{NAME}/1"), None),
                (f"prompt_version {NAME}/{size} ({size:,})",
                 lambda _, r=reg, s=size: r.prompt_version(f"{NAME}/{s}"), None),
                (f"prompt_version {NAME} latest ({size:,})", lambda _, r=reg: r.prompt_version(NAME), None),
            ]
        per_case: dict[str, list[Figure]] = {what: [] for what, _, _ in cases}
        for round_ in range(rounds):
            for what, fn, target in cases:
                per_case[what].append(measure(what, fn, n // rounds, target, warmup=50 if round_ == 0 else 5))
    merged: list[Figure] = []
    for what, figs in per_case.items():
        samples = [x for f in figs for x in f.samples]
        merged.append(Figure(what, statistics.median(samples) / 1e6, p99(samples) / 1e6, figs[0].target_ms,
                             len(samples)))
    return merged


def bench_push(reg: Registry, backend: str, n: int) -> Figure:
    run = uuid.uuid4().hex[:8]

    def push(i: int) -> None:
        assert reg.push_prompt(spec(f"{run} push {i}")).created

    return measure(f"push_prompt, new content ({backend})", push, n, 3.0, warmup=20)


def bench_move(n: int) -> Figure:
    with sqlite_registry() as (reg, _):
        reg.push_prompt(spec("v1"))
        reg.add_model("support-llm", MODEL)
        reg.add_model("support-llm", MODEL, params={"temperature": 0.2})
        ids = [reg.pair(f"{NAME}/1", f"support-llm/{m}").pairing.id for m in (1, 2)]

        moves = 0

        def move(_: int) -> None:
            nonlocal moves
            moves += 1
            assert labels.move(reg, NAME, "production", ids[moves % 2], reason=f"move {moves}")[1]

        return measure("labels.move (sqlite)", move, n, None, warmup=20)


def print_table(figures: list[Figure]) -> None:
    header = ["benchmark", "n", "median ms", "p99 ms", "target ms", "met"]
    table([header] + [f.row() for f in figures])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller series and fewer iterations (~6 s)")
    args = parser.parse_args()
    sizes = (10, 1_000, 10_000) if args.quick else (10, 1_000, 100_000)
    reads, pushes, moves = (2_000, 100, 100) if args.quick else (5_000, 500, 500)
    pg = os.environ.get("PROMPTVER_TEST_PG_URL", "").strip()
    print(f"promptver registry benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{'quick' if args.quick else 'full'} run", flush=True)
    started = time.perf_counter()
    figures: list[Figure] = bench_reads(sizes, reads)
    with sqlite_registry() as (reg, _):
        figures.append(bench_push(reg, "sqlite", pushes))
    figures.append(measure("  of which PromptSpec.validated() (no database)",
                           lambda i: spec(f"validate {i}").validated(), pushes, None, warmup=20))
    if pg:
        try:
            with pg_registry(pg) as reg:
                figures.append(bench_push(reg, "postgresql", pushes))
        except Exception as exc:  # noqa: BLE001 (a benchmark reports; it does not fail)
            print(f"PostgreSQL skipped: {type(exc).__name__}: {exc}")
    else:
        print("PostgreSQL skipped: PROMPTVER_TEST_PG_URL is not set")
    figures.append(bench_move(moves))
    print()
    print_table(figures)
    flat = [f.median_ms for f in figures if f.what.startswith("resolve") and "cache" not in f.what]
    print(f"\nresolve median, largest / smallest series: {flat[-1] / flat[0]:.2f}x (flat means about 1x)")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
