"""`promptver verify` re-hashes what is stored and reports tampering (guards removed first)."""

import json

import pytest
from conftest import prompt_spec


def _tamper(url, dialect_sql):
    from promptver.storage.reader import connect

    conn, dialect = connect(url)
    cur = conn.cursor()
    for sql in dialect_sql[dialect]:
        cur.execute(sql)
    conn.close()


@pytest.fixture
def stored(reg):
    reg.push_prompt(prompt_spec())
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0})
    reg.pair("support-reply/1", "support-llm/1")
    return reg


def test_verify_passes_on_a_clean_registry(stored, registry_url):
    from promptver.services.database import Database
    from promptver.services.verify import verify

    db = Database.open(registry_url)
    report = verify(db)
    db.close()
    assert report.ok and report.checked == {"prompt_versions": 1, "model_versions": 1, "pairings": 1, "label_events": 0}


def test_verify_reports_a_tampered_row(stored, registry_url):
    from promptver.services.database import Database
    from promptver.services.verify import verify

    _tamper(registry_url, {
        "sqlite": ["DROP TRIGGER model_versions_no_update",
                   "UPDATE model_versions SET params = '{\"temperature\": 1.5}'"],
        "postgresql": ["DROP TRIGGER model_versions_no_update_delete ON model_versions",
                       "UPDATE model_versions SET params = '{\"temperature\": 1.5}'"],
    })
    db = Database.open(registry_url, check_guards=False)
    report = verify(db)
    db.close()
    assert not report.ok
    assert any("guard missing" in p for p in report.problems)
    assert any(p.startswith("model support-llm/1: stored content_hash") for p in report.problems)


def test_verify_cli_exit_codes(cli):
    cli("init", "--no-examples")
    (cli.project / "p.yaml").write_text("name: p\nmessages:\n  - role: user\n    content: hi {{ x }}\n")
    cli("prompt", "push", "p.yaml")
    ok = cli("verify")
    assert ok.code == 0 and ok.stdout.splitlines()[-1] == "ok: every stored hash matches and every guard is in place"
    url = f"sqlite:///{cli.project / '.promptver' / 'registry.db'}"
    _tamper(url, {"sqlite": ["DROP TRIGGER prompt_versions_no_update",
                             "UPDATE prompt_versions SET messages = '[{\"role\": \"user\", \"content\": \"evil\"}]'"]})
    refused = cli("get", "p/1")
    assert refused.code == 1 and "immutability guards are missing" in refused.stderr
    bad = cli("verify", "--json")
    assert bad.code == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and len(report["problems"]) == 2
