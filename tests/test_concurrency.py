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
