"""Whole `promptver eval` process: 250 cases x 2 prompt versions x 2 model versions = 1,000 calls at
-j 50 against the local OpenAI-compatible stub answering after 50 ms (the floor: 1 s of waiting).

Run: ``python bench/bench_eval.py [--cases 250] [--jobs 50] [--latency 0.05] [--runs 3] [--profile]``.

The stub (tests/openai_stub.py) runs in its own process. One project is set up in a temp folder
through the CLI (``init``, a prompt pushed twice, a model ``openai/gpt-4o-2024-08-06`` added twice
with ``api_base`` = the stub, a JSONL dataset, a suite naming both prompt versions and both model
versions, ``concurrency: 50``); each run copies that pristine project, so every "uncached" figure
is a true first run (the dataset version and the four pairings are made then, nothing is cached).
Per run, the ``promptver eval SUITE -j 50 --json`` console script is timed from spawn to exit:

- ``uncached``: the first run in the copy (target: under 1.35 s; promptfoo 0.121 took 8.49 s on this workload here);
- ``cached``: the same suite again, every response and score from the cache (target: under 0.4 s; promptfoo: 6.46 s);
- ``peak RSS``: the process's maximum resident set (``os.wait4``), both runs (target: under 250 MB).

Before them, an untimed warm-up pair of runs compiles the bytecode (cached under the bench's temp
folder, even if ``PYTHONDONTWRITEBYTECODE`` is set) and warms the OS's file cache. Then, in a last copy: which of litellm / openai / aiohttp a cached run imports (``python -X
importtime``; target: no litellm, no openai), and its slowest top-level imports. ``--profile`` adds
a cProfile of an uncached and a cached run (``python -m cProfile``): the top functions by own time,
and promptver's own functions by cumulative time, to show where the process spends what is not
waiting on the stub (cProfile roughly doubles the CPU-bound parts; compare shares, not seconds). Prints
tables; always exits 0.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import table  # bench/figures.py

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-0123456789abcdefghij"
MODEL = "openai/gpt-4o-2024-08-06"
PROMPT_V1 = """\
name: bench-reply
messages:
  - role: system
    content: You are a friendly support agent for {{ company }}. Answer in at most three sentences.
  - role: user
    content: "{{ question }}"
variables:
  company: {type: string}
  question: {type: string}
"""
PROMPT_V2 = PROMPT_V1.replace("friendly support agent", "terse support agent")
TOPICS = ["order", "refund", "delivery", "invoice", "password", "warranty", "exchange", "discount"]
HEAVY = ("litellm", "openai", "aiohttp")


PYCACHE: dict[str, str] = {}  # PYTHONPYCACHEPREFIX: a folder of the bench's temp dir


def child_env() -> dict[str, str]:
    """No registry, server or base URL from the caller; bytecode cached (in the bench's temp folder)
    even where PYTHONDONTWRITEBYTECODE is set, as in a normal install: compiling promptver's modules
    from source on every start would add 0.1-0.2 s to each process."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROMPTVER_DB", "PROMPTVER_URL", "PROMPTVER_TOKEN", "OPENAI_BASE_URL", "OPENAI_API_BASE",
                        "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE")}
    env.update({"OPENAI_API_KEY": KEY, "PROMPTVER_ACTOR": "bench", "LITELLM_LOCAL_MODEL_COST_MAP": "True", **PYCACHE})
    return env


def console_script() -> str:
    here = Path(sys.executable).parent / "promptver"
    found = str(here) if here.exists() else shutil.which("promptver")
    if not found:
        raise SystemExit("the promptver console script is not installed (pip install -e .)")
    return found


def run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, env=child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def set_up(cli: str, folder: Path, url: str, cases: int, jobs: int) -> str:
    """The project: 2 prompt versions, 2 model versions on the stub, the dataset and the suite."""
    run([cli, "init", "--no-examples"], folder)
    (folder / "prompts").mkdir(exist_ok=True)
    (folder / "evals").mkdir(exist_ok=True)
    prompt = folder / "prompts" / "bench-reply.yaml"
    for text in (PROMPT_V1, PROMPT_V2):
        prompt.write_text(text)
        run([cli, "prompt", "push", "prompts/bench-reply.yaml", "-m", "bench"], folder)
    for temperature in (0, 0.7):
        run([cli, "model", "add", "bench-llm", "--model", MODEL, "--param", f"api_base={json.dumps(url)}",
             "--param", f"temperature={temperature}", "--param", "max_tokens=300", "--param", "seed=7"], folder)
    with (folder / "evals" / "bench.jsonl").open("w") as out:
        for i in range(cases):
            topic = TOPICS[i % len(TOPICS)]
            out.write(json.dumps({"id": f"case-{i:04d}", "vars": {"company": "Acme", "question":
                                  f"Question {i}: what about my {topic} #{i * 7919 % 10007}?"},
                                  "expected": topic}) + "\n")
    (folder / "evals" / "bench.yaml").write_text(
        "dataset: bench.jsonl\nprompts: [bench-reply/1, bench-reply/2]\nmodels: [bench-llm/1, bench-llm/2]\n"
        f"scorers:\n  - type: contains\nconcurrency: {jobs}\ntimeout: 30\n")
    return "evals/bench.yaml"


def timed(args: list[str], cwd: Path) -> tuple[float, float, int, str, str]:
    """(wall s, peak RSS MB, exit code, stdout, stderr) of one whole process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=cwd, env=child_env(), stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss / 1024, child.returncode, out.read().decode(), err.read().decode()


def check_report(stdout: str, calls: int, cached: bool) -> str:
    """'' if the run made (or replayed) every call without an error, else what went wrong."""
    try:
        report = json.loads(stdout)
    except ValueError:
        return "no JSON report"
    cells = report.get("cells", [])
    done = sum(int(c.get("results") or 0) for c in cells)
    passed = sum(int(c.get("passed") or 0) for c in cells)
    from_cache = sum(int(c.get("cached") or 0) for c in cells)
    problems = []
    if report.get("errors"):
        problems.append(f"{report['errors']} errors")
    if len(cells) != 4 or done != calls:
        problems.append(f"{len(cells)} cells, {done} results, not 4 and {calls}")
    if passed != done:
        problems.append(f"{done - passed} results failed their scorer")
    if cached and from_cache != calls:
        problems.append(f"{from_cache} of {calls} from the cache")
    if not cached and from_cache:
        problems.append(f"{from_cache} from the cache on a first run")
    return "; ".join(problems)


def imports_of(folder: Path, suite: str, jobs: int) -> tuple[list[str], list[tuple[float, str]]]:
    """The heavy packages a (cached) run imports, and its slowest top-level imports (ms)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "promptver.cli.main", "eval", suite, "-j",
                           str(jobs), "--json"], cwd=folder, env=child_env(), capture_output=True, text=True,
                          check=False)
    heavy, top = set(), []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.strip().split(".")[0] in HEAVY:
            heavy.add(name.strip().split(".")[0])
        if not name.startswith("  "):
            top.append((int(parts[1]) / 1000, name.strip()))
    return sorted(heavy), sorted(top, reverse=True)[:6]


def profile(folder: Path, suite: str, jobs: int, label: str, lines: int) -> None:
    stats_file = folder / f"{label}.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "promptver.cli.main", "eval",
                    suite, "-j", str(jobs), "--json"], cwd=folder, env=child_env(), capture_output=True, check=False)
    for order, where, what in (("tottime", (), "all functions by own time"),
                               ("cumulative", (r"/promptver/",), "promptver's functions by cumulative time")):
        text = io.StringIO()
        stats = pstats.Stats(str(stats_file), stream=text)
        stats.sort_stats(order).print_stats(*where, lines)
        body = text.getvalue().replace(str(ROOT / "src") + "/", "").replace(sys.prefix + "/", "")
        start = body.find("   ncalls")
        print(f"\n--- cProfile, {label} run: top {lines} {what} ---")
        print(body[start:].rstrip() if start >= 0 else body.rstrip())


def met(value: float, target: float) -> str:
    return "yes" if value < target else "**no**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=250)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3, help="fresh project copies (median)")
    parser.add_argument("--profile", action="store_true", help="cProfile an uncached and a cached run")
    parser.add_argument("--profile-lines", type=int, default=25)
    args = parser.parse_args()
    cli = console_script()
    calls = args.cases * 4
    floor = calls / args.jobs * args.latency
    stub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_stub.py"), "--latency", str(args.latency)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = (stub.stdout.readline() if stub.stdout else "").strip()
        if not url.startswith("http"):
            print("the OpenAI stub did not start; nothing measured")
            return
        print(f"promptver eval benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.cases} cases "
              f"x 2 prompt versions x 2 model versions = {calls} calls, -j {args.jobs}, stub latency "
              f"{args.latency * 1000:.0f} ms (floor {floor:.2f} s); median of {args.runs} fresh projects\n", flush=True)
        with tempfile.TemporaryDirectory(prefix="pv-bench-eval-") as tmp:
            PYCACHE["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
            pristine = Path(tmp) / "pristine"
            pristine.mkdir()
            suite = set_up(cli, pristine, url, args.cases, args.jobs)
            warm = Path(tmp) / "warm-up"  # an untimed first and second run: bytecode, the OS's file cache
            shutil.copytree(pristine, warm)
            for _ in range(2):
                run([cli, "eval", suite, "-j", str(args.jobs), "--json"], warm)
            shutil.rmtree(warm)
            figures: dict[str, list[float]] = {"uncached": [], "cached": [], "rss_uncached": [], "rss_cached": []}
            problems: list[str] = []
            for n in range(args.runs):
                folder = Path(tmp) / f"run{n}"
                shutil.copytree(pristine, folder)
                for label, cached in (("uncached", False), ("cached", True)):
                    wall, rss, code, out, err = timed([cli, "eval", suite, "-j", str(args.jobs), "--json"], folder)
                    figures[label].append(wall)
                    figures[f"rss_{label}"].append(rss)
                    problem = f"exit {code}: {err.strip()[-300:]}" if code != 0 else check_report(out, calls, cached)
                    if problem:
                        problems.append(f"run {n + 1} {label}: {problem}")
                shutil.rmtree(folder)
            med = {k: statistics.median(v) for k, v in figures.items()}
            table([("whole `promptver eval` process", "median", "min", "max", "target", "met"),
                   ("uncached (first run) s", f"{med['uncached']:.2f}", f"{min(figures['uncached']):.2f}",
                    f"{max(figures['uncached']):.2f}", "< 1.35", met(med["uncached"], 1.35)),
                   ("fully cached (second run) s", f"{med['cached']:.2f}", f"{min(figures['cached']):.2f}",
                    f"{max(figures['cached']):.2f}", "< 0.4", met(med["cached"], 0.4)),
                   ("peak RSS, uncached MB", f"{med['rss_uncached']:.0f}", f"{min(figures['rss_uncached']):.0f}",
                    f"{max(figures['rss_uncached']):.0f}", "< 250", met(max(figures["rss_uncached"]), 250)),
                   ("peak RSS, cached MB", f"{med['rss_cached']:.0f}", f"{min(figures['rss_cached']):.0f}",
                    f"{max(figures['rss_cached']):.0f}", "< 250", met(max(figures["rss_cached"]), 250))])
            print(f"\n(floor {floor:.2f} s of waiting on the stub; "
                  f"{'every run complete, no errors' if not problems else 'PROBLEMS: ' + ' | '.join(problems)})")
            probe = Path(tmp) / "probe"
            shutil.copytree(pristine, probe)
            run([cli, "eval", suite, "-j", str(args.jobs), "--json"], probe)  # fills the cache
            heavy, top = imports_of(probe, suite, args.jobs)
            bad = [m for m in heavy if m in ("litellm", "openai")]
            print(f"\ncached run imports: {', '.join(heavy) or 'none'} of {', '.join(HEAVY)} "
                  f"(target: no litellm, no openai) -> {'met' if not bad else 'NOT met'}")
            print("slowest top-level imports of the cached run (cumulative, python -X importtime):")
            for millis, name in top:
                print(f"  {millis:7.1f} ms  {name}")
            if args.profile:
                fresh = Path(tmp) / "profiled"
                shutil.copytree(pristine, fresh)
                profile(fresh, suite, args.jobs, "uncached", args.profile_lines)
                profile(fresh, suite, args.jobs, "cached", args.profile_lines)
    finally:
        if stub.stdin:
            stub.stdin.close()
        stub.wait(10)


if __name__ == "__main__":
    main()
