"""Several processes writing one series at once: contiguous numbers, no user-visible error."""

import subprocess
import sys
import textwrap

WRITER = textwrap.dedent("""
    import sys
    from promptver.templates.specs import PromptSpec
    from promptver.services.registry import Registry
    url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Registry.open(url, actor=f"worker-{worker}") as reg:
        for i in range(count):
            spec = PromptSpec("busy", [{"role": "user", "content": f"worker {worker} edit {i}: {{{{ q }}}}"}])
            reg.push_prompt(spec, message=f"{worker}/{i}")
        reg.add_model("busy-model", f"openai/gpt-4o-2024-08-06", params={"seed": int(worker)})
    print("ok")
""")


def test_processes_never_lose_or_duplicate_versions(registry_url):
    from promptver.services.database import Database

    Database.open(registry_url).close()  # create the schema first
    workers, each = 6, 8
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, registry_url, str(w), str(each)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(workers)]
    results = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0 and out.strip() == "ok", err
        assert "locked" not in err
    from promptver.services.registry import Registry

    with Registry.open(registry_url) as reg:
        versions = reg.log("prompt", "busy")
        assert sorted(v.version for v in versions) == list(range(1, workers * each + 1))
        assert len({v.content_hash for v in versions}) == workers * each
        assert sorted(v.version for v in reg.log("model", "busy-model")) == list(range(1, workers + 1))
        parents = {v.version: v.parent for v in versions}
        assert all(parents[n] == n - 1 for n in range(2, workers * each + 1))
        from promptver.services.verify import verify

        report = verify(reg.db)  # every writer appended to the same chains: none forked
        assert report.ok, report.problems
        assert report.chains["prompt_versions"][0] == workers * each


APPENDER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime
    from promptver.services.registry import Registry
    from promptver.storage import eval_writes
    url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Registry.open(url, actor=f"worker-{worker}") as reg:
        for i in range(count):
            now = datetime.now(UTC)
            def batch(tx):  # the plain path: 50 rows per transaction
                for j in range(50):
                    eval_writes.insert_run_event(tx, run_id="r" * 16, state="running", details={"w": worker, "j": j},
                                                 created_at=now)
            reg.db.write_plain(batch)
            reg.annotate("prompt", "shared/1", f"w{worker}-{i}")  # the SQLAlchemy path: annotation + audit
    print("ok")
""")


def test_concurrent_appends_never_fork_a_chain(registry_url):
    """Writers in several processes append to the same chains through both write paths at once
    (PostgreSQL: an advisory lock per chain; SQLite: the write lock): verify passes after."""
    from conftest import prompt_spec

    from promptver.services.registry import Registry
    from promptver.services.verify import verify

    from datetime import UTC, datetime

    from promptver.core.identity import content_hash
    from promptver.services import datasets
    from promptver.storage import eval_writes

    with Registry.open(registry_url, actor="setup") as reg:
        reg.push_prompt(prompt_spec(name="shared"))
        cases = [{"id": "c1", "vars": {}, "expected": None, "metadata": {}}]
        version, _ = datasets.push(reg, "d", cases, content_hash({"kind": "promptver.dataset/1", "cases": cases}))
        reg.db.write_plain(lambda tx: eval_writes.insert_run(
            tx, id="r" * 16, suite="s", suite_hash="h" * 64, dataset_version_id=version.id, plan={}, environment={},
            actor="setup", created_at=datetime.now(UTC)))
    workers, each = 4, 6
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, registry_url, str(w), str(each)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(workers)]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and out.strip() == "ok", err
    with Registry.open(registry_url) as reg:
        report = verify(reg.db)
        assert report.ok, report.problems
        assert report.chains["eval_run_events"][0] == workers * each * 50
        assert report.chains["annotations"][0] == workers * each
        seqs = [r["chain_seq"] for r in reg.reader.rows("SELECT chain_seq FROM audit_events ORDER BY chain_seq")]
        assert seqs == list(range(1, 4 + workers * each + 1))  # 2 for the prompt, 2 for the dataset, then annotations
