"""`promptver dataset list/log/show/diff/export`: on a SQLite registry, and through a real server
(the same output as locally); an export reads back (evals/datasets.py) to the same content hash."""

import json

import pytest
from server_fixture import running_server

from promptver.evals.datasets import dataset_hash, load_cases

pytestmark = pytest.mark.usefixtures("fast_retries")

TICKETS = [  # text only, the same columns in every case: CSV can hold it
    {"id": f"t{i}", "vars": {"company": "Acme", "question": f"question {i}?"}, "expected": f"answer {i}",
     "metadata": {"topic": "billing" if i % 2 else "shipping"}} for i in range(1, 8)]


def push_dataset(db_url, name, cases, source=""):
    """Store cases as the next version of a dataset the way `eval` does; returns the version's hash."""
    from promptver.evals.datasets import Case
    from promptver.services import datasets
    from promptver.services.registry import Registry

    digest = dataset_hash([Case(**c) for c in cases])
    with Registry.open(db_url, actor="seeder") as reg:
        datasets.push(reg, name, cases, digest, source=source)
    return digest


def write_jsonl(path, cases):
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))


def project_db(cli):
    return f"sqlite:///{cli.project / '.promptver' / 'registry.db'}"


def test_list_log_and_the_runs_that_used_each_version(example):
    original = load_cases(example.project / "evals" / "support-reply.jsonl")
    assert example("eval", "evals/support-reply.yaml").code == 0
    assert example("eval", "evals/support-reply.yaml", "--no-cache").code == 0
    path = example.project / "evals" / "support-reply.jsonl"
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    cases[0]["vars"]["question"] = "Where's my parcel?"
    write_jsonl(path, cases[:2] + [{"id": "cancel", "vars": {"company": "Acme", "question": "Cancel?"},
                                    "expected": "cancel"}])
    assert example("eval", "evals/support-reply.yaml").code in (0, 1)  # a run, passing or not
    run_ids = [r["run"] for r in json.loads(example("eval", "list", "--json").stdout)]  # newest first

    listed = json.loads(example("dataset", "list", "--json").stdout)
    assert [(d["name"], d["latest"], d["versions"], d["rows"]) for d in listed] == [("support-reply", 2, 2, 3)]
    log = json.loads(example("dataset", "log", "support-reply", "--json").stdout)
    assert [(v["ref"], v["rows"], v["runs"]) for v in log] == [("support-reply/2", 3, 1), ("support-reply/1", 3, 2)]
    assert log[1]["content_hash"] == dataset_hash(original)  # what the eval loader computed from the file
    assert log[0]["content_hash"] == dataset_hash(load_cases(path)) == listed[0]["content_hash"]
    assert [r["id"] for r in log[0]["latest_runs"]] == run_ids[:1]
    assert [r["id"] for r in log[1]["latest_runs"]] == run_ids[1:3]
    assert log[1]["source"].endswith("support-reply.jsonl") and log[1]["author"] == "tester"

    text = example("dataset", "list").stdout.splitlines()
    assert text[0].split() == ["DATASET", "OWNER", "LATEST", "VERSIONS", "ROWS", "HASH", "UPDATED"]
    assert text[1].split()[:6] == ["support-reply", "tester", "v2", "2", "3", log[0]["content_hash"][:12]]
    logged = example("dataset", "log", "support-reply").stdout.splitlines()
    assert logged[2].split()[0] == "v1" and f"{run_ids[1][:12]}, {run_ids[2][:12]}" in logged[2]


def test_diff_names_cases_added_removed_and_changed_fields(example):
    db = project_db(example)
    old = push_dataset(db, "tickets", TICKETS)
    changed = [dict(c) for c in TICKETS[1:]] + [{"id": "t9", "vars": {"company": "Acme", "question": "new?"},
                                                 "expected": "new", "metadata": {}}]
    changed[0] = {**changed[0], "vars": {**changed[0]["vars"], "question": "rephrased?"}, "expected": "answer 2b"}
    changed[1] = {**changed[1], "metadata": {"topic": "returns"}}
    new = push_dataset(db, "tickets", changed)
    result = json.loads(example("dataset", "diff", "tickets/1", "tickets/2", "--json").stdout)
    assert (result["old_hash"], result["new_hash"], result["identical"]) == (old, new, False)
    assert (result["added"], result["removed"]) == (["t9"], ["t1"])
    assert result["changed"] == [
        {"id": "t2", "fields": [{"path": "expected", "change": "changed", "old": "answer 2", "new": "answer 2b"},
                                {"path": "vars.question", "change": "changed", "old": "question 2?",
                                 "new": "rephrased?"}]},
        {"id": "t3", "fields": [{"path": "metadata.topic", "change": "changed", "old": "billing", "new": "returns"}]}]
    text = example("dataset", "diff", "tickets/1", "tickets/2")
    assert text.stdout.splitlines() == [
        "tickets/1 -> tickets/2: 1 added, 1 removed, 2 changed", "+ t9", "- t1", "~ t2",
        '    expected: "answer 2" -> "answer 2b"', '    vars.question: "question 2?" -> "rephrased?"',
        "~ t3", '    metadata.topic: "billing" -> "returns"']
    same = json.loads(example("dataset", "diff", "tickets/2", "tickets/2", "--json").stdout)
    assert same["identical"] and not (same["added"] or same["removed"] or same["changed"])
    push_dataset(db, "tickets", list(reversed(changed)))
    reordered = json.loads(example("dataset", "diff", "tickets/2", "tickets", "--json").stdout)
    assert reordered["reordered"] and not reordered["identical"] and reordered["new"] == "tickets/3"


def test_show_prints_the_first_cases_and_all_with_cases(example):
    digest = push_dataset(project_db(example), "tickets", TICKETS, source="tickets.jsonl")
    shown = json.loads(example("dataset", "show", "tickets", "--json").stdout)
    assert (shown["ref"], shown["content_hash"], shown["rows"], shown["runs"]) == ("tickets/1", digest, 7, 0)
    assert shown["cases"] == TICKETS[:5]
    assert json.loads(example("dataset", "show", "tickets/1", "--cases", "--json").stdout)["cases"] == TICKETS
    text = example("dataset", "show", "tickets/1").stdout.splitlines()
    assert text[0] == "dataset: tickets/1" and text[1] == f"hash:    {digest}" and "source:  tickets.jsonl" in text
    assert text[-2].startswith('t5: vars {"company": "Acme", "question": "question 5?"}  expected "answer 5"')
    assert text[-1] == "... 2 more (--cases shows all)"
    assert example("dataset", "show", "tickets", "--cases").stdout.splitlines()[-1].startswith("t7: ")


@pytest.mark.parametrize("fmt", ["jsonl", "yaml", "csv"])
def test_an_export_reads_back_to_the_same_content_hash(example, fmt):
    digest = push_dataset(project_db(example), "tickets", TICKETS)
    push_dataset(project_db(example), "tickets", TICKETS[:3])  # a newer version: /1 is named explicitly
    target = example.project / f"out.{fmt}"
    done = example("dataset", "export", "tickets/1", "-o", str(target))
    assert done.code == 0 and done.stderr.startswith("wrote tickets/1 (7 cases")
    back = load_cases(target)
    assert dataset_hash(back) == digest and [c.to_json() for c in back] == TICKETS
    printed = example("dataset", "export", "tickets/1", "--format", fmt).stdout
    assert printed == target.read_text()
    latest = example("dataset", "export", "tickets", "-o", str(target))
    assert latest.code == 0 and len(load_cases(target)) == 3


def test_the_worked_example_exports_and_a_suite_runs_on_the_export(example):
    assert example("eval", "evals/support-reply.yaml").code == 0
    stored = json.loads(example("dataset", "log", "support-reply", "--json").stdout)[0]["content_hash"]
    for fmt in ("jsonl", "yaml"):
        out = example.project / "evals" / f"again.{fmt}"
        assert example("dataset", "export", "support-reply", "-o", str(out)).code == 0
        assert dataset_hash(load_cases(out)) == stored
    (example.project / "evals" / "again.yaml.suite.yaml").write_text(
        "dataset: again.yaml\nprompts: [support-reply@production]\nmodels: [support-llm/1]\n"
        "scorers: [{type: contains}]\n")
    assert example("eval", "evals/again.yaml.suite.yaml").code == 0
    again = json.loads(example("dataset", "list", "--json").stdout)
    assert {(d["name"], d["content_hash"]) for d in again} == {("support-reply", stored), ("again", stored)}


def test_errors_are_one_line_and_write_nothing(example):
    assert example("eval", "evals/support-reply.yaml").code == 0  # null variables: not CSV
    target = example.project / "out.csv"
    refused = example("dataset", "export", "support-reply", "-o", str(target))
    assert refused.code == 2 and refused.stderr.count("\n") == 1 and not target.exists()
    assert "cannot be written as CSV without changing it" in refused.stderr and "--format jsonl" in refused.stderr
    for args, message in (
            (("show", "nope"), "error: no dataset 'nope'\n"),
            (("show", "support-reply/9"), "error: no version 9 of dataset 'support-reply'\n"),
            (("log", "nope"), "error: no dataset 'nope'\n"),
            (("diff", "support-reply/1", "support-reply/x"), None),
            (("export", "support-reply", "-o", "out.txt"), None),
            (("export", "support-reply", "--format", "yaml", "-o", "out.csv"), None),
            (("export", "support-reply", "--format", "xml"), None)):
        result = example("dataset", *args)
        assert result.code == 2 and result.stdout == "" and result.stderr.startswith("error: "), args
        assert result.stderr.count("\n") == 1 and (message is None or result.stderr == message), result.stderr
    assert not (example.project / "out.txt").exists()


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with running_server(url) as srv:
        yield srv


def test_through_a_server_the_commands_give_what_they_give_locally(served, cli, monkeypatch):
    push_dataset(served.db_url, "tickets", TICKETS)
    push_dataset(served.db_url, "tickets", TICKETS[2:])
    monkeypatch.setenv("PROMPTVER_DB", served.db_url)  # an eval run that used tickets/2
    write_jsonl(cli.project / "tickets.jsonl", TICKETS[2:])
    assert cli("model", "add", "echo-llm", "--model", "promptver/echo").code == 0
    (cli.project / "s.yaml").write_text("dataset: tickets.jsonl\nprompts: [support-reply/1]\nmodels: [echo-llm/1]\n"
                                        "scorers: [{type: contains}]\nmin_pass_rate: 0\n")
    ran = cli("eval", "s.yaml", "--json")
    assert ran.code in (0, 1), ran.stderr
    commands = [("list", "--json"), ("log", "tickets", "--json"), ("show", "tickets/1", "--cases", "--json"),
                ("show", "tickets"), ("diff", "tickets/1", "tickets/2", "--json"), ("diff", "tickets/1", "tickets/2"),
                ("export", "tickets/1", "--format", "csv"), ("log", "tickets"), ("show", "nope")]
    local = [cli("dataset", *c) for c in commands]
    assert json.loads(local[1].stdout)[0]["runs"] == 1 and local[-1].code == 2
    monkeypatch.delenv("PROMPTVER_DB")
    monkeypatch.setenv("PROMPTVER_URL", served.url)
    monkeypatch.setenv("PROMPTVER_TOKEN", served.tokens["viewer"])
    remote = [cli("dataset", *c) for c in commands]
    for command, here, there in zip(commands, local, remote):
        assert (there.code, there.stdout, there.stderr) == (here.code, here.stdout, here.stderr), command
    fetch_only = (monkeypatch.setenv("PROMPTVER_TOKEN", served.tokens["fetch"]), cli("dataset", "list"))[1]
    assert fetch_only.code == 1 and "fetch-only token" in fetch_only.stderr


def test_the_dataset_routes_need_a_reading_token_and_map_errors(served):
    push_dataset(served.db_url, "tickets", TICKETS)
    with served.client() as anonymous:
        assert anonymous.get("/v1/datasets").status_code == 401
    with served.client("fetch") as fetch_only:
        assert fetch_only.get("/v1/datasets").status_code == 403
    with served.client("viewer") as viewer:
        listed = viewer.get("/v1/datasets").json()
        assert [(d["name"], d["latest"], d["rows"]) for d in listed] == [("tickets", 1, 7)]
        one = viewer.get("/v1/datasets/tickets/versions/1").json()
        assert one["cases"] == TICKETS and one["rows"] == 7
        for path in ("/v1/datasets/nope/versions", "/v1/datasets/tickets/versions/2"):
            missing = viewer.get(path)
            assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found", path
        assert viewer.get("/v1/datasets/tickets/versions/x").status_code == 422
