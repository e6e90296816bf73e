"""The README's tour runs as written: every ```bash block marked `<!-- tour -->` is run, command by
command and in order, in a fresh scratch folder (`promptver init`, the offline model, no API keys,
no PROMPTVER_DB), and each command must exit 0, or the code its line states with `# exits N`.
Lines starting with `# sketch:` (a server, a real provider) are comments to bash and are not run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
MARKER = "<!-- tour -->"
EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")


def tour_blocks(text: str) -> list[str]:
    """The bodies of the ```bash blocks that directly follow a tour marker."""
    return re.findall(re.escape(MARKER) + r"\s*\n```bash\n(.*?)\n```", text, flags=re.S)


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, blank lines and comment lines dropped."""
    out: list[str] = []
    pending = ""
    for line in block.splitlines():
        if pending:
            pending += "\n" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            pending = line
        else:
            continue
        if not line.rstrip().endswith("\\"):
            out.append(pending)
            pending = ""
    if pending:
        out.append(pending)
    return out


def script(cmds: list[str]) -> str:
    """One bash script that marks each command on stderr before running it, and checks a stated
    exit code (`# exits N`) itself; any other failure stops the script (bash -e)."""
    lines = []
    for number, cmd in enumerate(cmds, 1):
        lines.append(f"echo '### {number}' >&2")
        expected = EXITS.search(cmd.splitlines()[-1])
        if expected is None:
            lines.append(cmd)
        else:
            code = int(expected.group(1))
            lines += ["set +e", cmd, "rc=$?", "set -e",
                      f"[ $rc -eq {code} ] || {{ echo \"exit $rc, the README says {code}\" >&2; exit 99; }}"]
    return "\n".join(lines) + "\n"


def tour_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTVER_")}
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PROMPTVER_ACTOR="tour",
               PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""))
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(key, None)
    return env


def test_the_readme_marks_its_tour() -> None:
    blocks = tour_blocks(README.read_text())
    assert blocks, f"README.md has no ```bash block after {MARKER}"
    cmds = [c for b in blocks for c in commands(b)]
    assert len(cmds) >= 19
    assert cmds[0].startswith("promptver init")
    # a tour that names pairing ids it did not make cannot run on a fresh project
    assert not re.search(r"\b[0-9a-f]{12}\b", "\n".join(cmds))


def test_commands_join_continuations_and_skip_comments() -> None:
    block = "# sketch: promptver serve\npromptver a \\\n    --x 1\n\npromptver b   # exits 1\n"
    assert commands(block) == ["promptver a \\\n    --x 1", "promptver b   # exits 1"]
    body = script(commands(block))
    assert "set +e\npromptver b   # exits 1\nrc=$?" in body and "[ $rc -eq 1 ]" in body


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    cmds = [c for b in tour_blocks(README.read_text()) for c in commands(b)]
    project = tmp_path / "project"
    project.mkdir()
    done = subprocess.run(["bash", "-e", "-c", script(cmds)], cwd=project, env=tour_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        marks = re.findall(r"^### (\d+)$", done.stderr, flags=re.M)
        failed = cmds[int(marks[-1]) - 1] if marks else "(before the first command)"
        pytest.fail(f"README tour command failed (exit {done.returncode}): {failed}\n"
                    f"stderr:\n{done.stderr[-3000:]}")
    ran = re.findall(r"^### (\d+)$", done.stderr, flags=re.M)
    assert ran == [str(n) for n in range(1, len(cmds) + 1)]
    # the tour did what it says: two releases and a rollback to the first one
    env = tour_env(tmp_path)
    history = subprocess.run(["promptver", "label", "history", "support-reply", "production", "--json"],
                             cwd=project, env=env, capture_output=True, text=True, check=True).stdout
    events = json.loads(history)
    assert [e["reason"] for e in events] == ["release 1", "release 2", "answers got worse"]
    assert events[2]["pairing"] == events[0]["pairing"]
    live = subprocess.run(["promptver", "get", "support-reply@production"], cwd=project, env=env,
                          capture_output=True, text=True, check=True).stdout
    assert "support-reply/1" in live and "support-llm/1" in live
    assert (project / "chain-head.txt").read_text().strip()
