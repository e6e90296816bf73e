"""Scale of a whole `promptver eval` process: bounded memory and harness throughput.

A nightly regression of 10,000 cases x 8 pairings x 3 repeats is 240,000 calls. The stub
(tests/openai_stub.py) answers at once (zero latency), in its own process, so what is measured is
promptver's own work per call: rendering is done before, then per call the cache lookup, the request,
the answer's record, the scorer, the saved rows.

Run: ``python bench/bench_eval_scale.py [--sizes 1000,10000,40000,240000] [--jobs 50]``.

Each size is a fresh project: P prompt versions x M model versions x R repeats over a dataset of N
cases (1,000 and 10,000 cases: 2 x 2 x 1 and 4 x 1; 40,000: 10,000 cases x 2 x 2; 240,000: 10,000
cases x 4 prompt versions x 2 model versions x 3 repeats). Figures per size:

- ``wall s``: the whole `promptver eval SUITE --json` process, spawn to exit;
- ``calls/s``: calls / the time between the run's ``running`` and last event (the harness itself,
  without start-up, planning and the final report; target: at least 4,000 calls/s);
- ``peak RSS MB``: the process's maximum resident set (``os.wait4``; target: under 150 MB, and flat
  in the number of calls).

Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from bench_eval import MODEL, PROMPT_V1, TOPICS, child_env, console_script, run, timed
from figures import table  # bench/figures.py

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {  # calls -> (cases, prompt versions, model versions, repeats)
    1000: (250, 2, 2, 1), 10000: (2500, 2, 2, 1), 40000: (10000, 2, 2, 1), 240000: (10000, 4, 2, 3),
}


def set_up(cli: str, folder: Path, url: str, shape: tuple[int, int, int, int], jobs: int) -> str:
    cases, prompts, models, repeats = shape
    run([cli, "init", "--no-examples"], folder)
    (folder / "prompts").mkdir(exist_ok=True)
    (folder / "evals").mkdir(exist_ok=True)
    prompt = folder / "prompts" / "bench-reply.yaml"
    for n in range(prompts):
        prompt.write_text(PROMPT_V1.replace("friendly support agent", f"support agent no. {n}"))
        run([cli, "prompt", "push", "prompts/bench-reply.yaml", "-m", "bench"], folder)
    for n in range(models):
        run([cli, "model", "add", "bench-llm", "--model", MODEL, "--param", f"api_base={json.dumps(url)}",
             "--param", f"temperature={n / 10}", "--param", "max_tokens=300"], folder)
    with (folder / "evals" / "bench.jsonl").open("w") as out:
        for i in range(cases):
            topic = TOPICS[i % len(TOPICS)]
            out.write(json.dumps({"id": f"case-{i:05d}", "vars": {"company": "Acme", "question":
                                  f"Question {i}: what about my {topic}?"}, "expected": topic}) + "\n")
    refs = lambda name, n: "[" + ", ".join(f"{name}/{i + 1}" for i in range(n)) + "]"  # noqa: E731
    (folder / "evals" / "bench.yaml").write_text(
        f"dataset: bench.jsonl\nprompts: {refs('bench-reply', prompts)}\nmodels: {refs('bench-llm', models)}\n"
        f"scorers:\n  - type: contains\nrepeats: {repeats}\nconcurrency: {jobs}\ntimeout: 30\n")
    return "evals/bench.yaml"


def harness_seconds(folder: Path, run_id: str) -> float:
    with sqlite3.connect(folder / ".promptver" / "registry.db") as conn:
        times = [datetime.fromisoformat(t) for (t,) in conn.execute(
            "SELECT created_at FROM eval_run_events WHERE run_id = ? ORDER BY id", (run_id,))]
    return (times[-1] - times[0]).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,40000,240000")
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cli = console_script()
    stub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_stub.py"), "--latency", "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env())
    rows = []
    try:
        url = (stub.stdout.readline() if stub.stdout else "").strip()
        for size in sizes:
            shape = SHAPES[size]
            with tempfile.TemporaryDirectory(prefix="promptver-scale-") as tmp:
                folder = Path(tmp)
                suite = set_up(cli, folder, url, shape, args.jobs)
                wall, rss, code, out, err = timed([cli, "eval", suite, "-j", str(args.jobs), "--json"], folder)
                try:
                    report = json.loads(out)
                    seconds = harness_seconds(folder, report["run"])
                    done = sum(int(c.get("results") or 0) for c in report["cells"])
                    problem = "" if done == size and not report.get("errors") else f"{done} results, {report.get('errors')} errors"
                except (ValueError, KeyError) as exc:
                    seconds, problem = float("nan"), f"no report ({exc}): {err.strip()[-300:]}"
                rows.append([f"{size:,}", f"{shape[0]:,} x {shape[1]} x {shape[2]} x {shape[3]}", f"{wall:.1f}",
                             f"{size / seconds:,.0f}" if seconds == seconds and seconds else "-",
                             f"{rss:.0f}", "yes" if rss < 150 else "**no**", problem or f"ok (exit {code})"])
                print(f"  {size:,} calls done in {wall:.1f} s", file=sys.stderr)
    finally:
        if stub.stdin:
            stub.stdin.close()
        stub.wait(10)
    print(f"promptver eval at scale: python {sys.version.split()[0]}, -j {args.jobs}, zero-latency stub in its own "
          "process; targets: >= 4,000 calls/s, peak RSS < 150 MB and flat\n")
    table([["calls", "cases x prompts x models x repeats", "wall s", "calls/s", "peak RSS MB", "< 150 MB", "run"], *rows])


if __name__ == "__main__":
    main()
