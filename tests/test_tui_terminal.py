"""`promptver tui` in a real terminal (tmux, 80x24): start, navigate, edit, save, quit."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
PROMPT = "name: greeter\nmessages:\n  - role: system\n    content: Hello {{ who }}\n"


def _cli(args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PROMPTVER_DB", "PROMPTVER_URL")}
    return subprocess.run([sys.executable, "-m", "promptver.cli.main", *args], cwd=cwd, env={**env, "PROMPTVER_ACTOR":
                          "tester"}, capture_output=True, text=True, timeout=60)


class Terminal:
    def __init__(self, session: str) -> None:
        self.session = session

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True, text=True,
                              check=True).stdout

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.text()}")


@pytest.fixture
def terminal(tmp_path):
    assert _cli(["init", "--no-examples"], tmp_path).returncode == 0
    (tmp_path / "greeter.yaml").write_text(PROMPT)
    assert _cli(["prompt", "push", "greeter.yaml", "-m", "first"], tmp_path).returncode == 0
    session = f"pvtest{os.getpid()}{time.monotonic_ns() % 100000}"
    env = {k: v for k, v in os.environ.items() if k not in ("PROMPTVER_DB", "PROMPTVER_URL", "TMUX")}
    command = f"PROMPTVER_ACTOR=tmux-user {sys.executable} -m promptver.cli.main tui"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(tmp_path), command],
                   env=env, check=True)
    try:
        yield Terminal(session), tmp_path
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_start_navigate_edit_save_and_quit_in_a_real_terminal(terminal):
    term, project = terminal
    screen = term.wait_for("prompt greeter: 1 version(s)")
    assert "v1" in screen and "first" in screen and "? Help" in screen
    term.keys("?")
    term.wait_for("promptver tui: keys")
    term.keys("Escape")
    term.keys("Enter")                              # into the version list
    term.keys("e")
    term.wait_for("editing greeter/1")
    time.sleep(0.5)                                 # the text area takes the focus once mounted
    term.keys("Down", "Down", "Down", "End")        # the system message's line
    term.keys("-l", " and goodbye")
    term.wait_for("goodbye")                        # (soft-wrapped at 80 columns)
    term.keys("C-s")
    term.wait_for("changelog message")
    term.keys("-l", "say goodbye too")
    term.keys("Enter")
    term.wait_for("prompt greeter: 2 version(s)")
    term.keys("C-q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["tmux", "has-session", "-t", term.session],
                                                         capture_output=True).returncode == 0:
        time.sleep(0.05)
    assert subprocess.run(["tmux", "has-session", "-t", term.session], capture_output=True).returncode != 0, \
        "the app did not quit"
    log = _cli(["prompt", "log", "greeter", "--json"], project)
    assert log.returncode == 0, log.stderr
    import json

    versions = {v["version"]: v for v in json.loads(log.stdout)}
    assert versions[2]["message"] == "say goodbye too" and versions[2]["author"] == "tmux-user"
    show = _cli(["prompt", "show", "greeter/2", "--json"], project)
    assert json.loads(show.stdout)["messages"][0]["content"] == "Hello {{ who }} and goodbye"
    old = _cli(["prompt", "show", "greeter/1", "--json"], project)
    assert json.loads(old.stdout)["messages"][0]["content"] == "Hello {{ who }}"  # untouched
