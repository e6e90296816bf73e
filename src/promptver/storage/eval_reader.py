"""Read queries of eval runs, results and the response and score caches, in plain SQL over a
``Reader``'s DB-API connection (no SQLAlchemy: a cached run never imports it). Every query over
``eval_results`` reads the latest attempt of each call (``LATEST_ATTEMPT``): ``--resume`` stores a
retried call as a new attempt and never changes the errored one."""

from __future__ import annotations

from typing import Any

from promptver.storage.reader import DatasetReader, Reader, _json, _time

# a result row ``r`` that no later attempt of the same call supersedes
LATEST_ATTEMPT = ("NOT EXISTS (SELECT 1 FROM eval_results x WHERE x.run_id = r.run_id AND x.pairing_id = r.pairing_id "
                  "AND x.case_id = r.case_id AND x.repeat = r.repeat AND x.attempt > r.attempt)")
# a result row ``r`` that ended in an error; one with no failing score (none at all passes)
_ERRORED = "(r.error IS NOT NULL AND r.error <> '')"
_NO_FAILED_SCORE = "NOT EXISTS (SELECT 1 FROM eval_scores s WHERE s.result_id = r.id AND NOT s.passed)"


class EvalReader:
    """Read queries for eval runs, results and the caches (over a Reader's connection)."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader

    def cached_response(self, key: str) -> dict[str, Any] | None:
        value = self.r.scalar("SELECT response FROM response_cache WHERE key = :key", key=key)
        return None if value is None else _json(value)

    def cached_keys(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` the response cache holds."""
        return {r["key"] for r in self._cache_rows("key", keys)}

    def cached_responses(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached responses of those of ``keys`` the cache holds."""
        return {r["key"]: _json(r["response"]) for r in self._cache_rows("key, response", keys)}

    def _cache_rows(self, columns: str, keys: list[str], actor: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(keys))
        # actor: only answers a run of this identity received (a server never serves one user's stored
        # answers as another's: an editor could otherwise plant answers for everybody's runs)
        mine = ("" if actor is None else " AND key IN (SELECT r.request_key FROM eval_results r JOIN eval_runs u "
                "ON u.id = r.run_id WHERE u.actor = :actor AND r.error IS NULL)")
        for start in range(0, len(unique), 500):  # (SQLite's default limit on parameters is 999 or more)
            names = {f"k{i}": key for i, key in enumerate(unique[start:start + 500])}
            found += self.r.rows(f"SELECT {columns} FROM response_cache WHERE key IN "
                                 f"({', '.join(':' + n for n in names)}){mine}", **names,
                                 **({} if actor is None else {"actor": actor}))
        return found

    def own_cached_responses(self, keys: list[str], actor: str) -> dict[str, dict[str, Any]]:
        """``cached_responses``, of the answers runs by ``actor`` received only."""
        return {r["key"]: _json(r["response"]) for r in self._cache_rows("key, response", keys, actor)}

    def own_cached_keys(self, keys: list[str], actor: str) -> set[str]:
        return {r["key"] for r in self._cache_rows("key", keys, actor)}

    def cached_score(self, key: str) -> dict[str, Any] | None:
        return self.r.row("SELECT value, passed, detail FROM score_cache WHERE key = :key", key=key)

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.r.row("SELECT * FROM eval_runs WHERE id = :id", id=run_id)
        if row is None:
            matches = self.r.rows("SELECT * FROM eval_runs WHERE id >= :lo AND id < :hi LIMIT 2",
                                  lo=run_id, hi=run_id + "g")
            row = matches[0] if len(matches) == 1 else None
        if row is not None:
            row["plan"], row["environment"] = _json(row["plan"]), _json(row["environment"])
            row["created_at"] = _time(row["created_at"])
            last = self.r.row("SELECT state, details FROM eval_run_events WHERE run_id = :id ORDER BY id DESC LIMIT 1",
                              id=row["id"])
            row["state"] = None if last is None else last["state"]
            row["state_details"] = {} if last is None else (_json(last["details"]) or {})
        return row

    def runs(self, suite: str | None = None, limit: int = 50, kind: str | None = None) -> list[dict[str, Any]]:
        """The ``limit`` newest runs (of ``suite``; of this ``kind``: "suite" for whole-suite runs only,
        which is what baselines, history and release gates use; None: every kind, replays included)."""
        where = [w for w, v in ((" suite = :suite", suite), (" kind = :kind", kind)) if v is not None]
        which = (" WHERE" + " AND".join(where)) if where else ""
        ids = [r["id"] for r in self.r.rows(f"SELECT id FROM eval_runs{which} ORDER BY created_at DESC, id DESC "
                                             "LIMIT :limit", suite=suite, kind=kind, limit=limit)]
        return [self.run(i) for i in ids]  # type: ignore[misc]

    def pairing_counts(self, run_id: str, pairing_id: str) -> tuple[int, int, int]:
        """(results, errors, passed) of one pairing in one run: a result passes when it has no error
        and every score passed (a result without scores passes), as the release gate counts."""
        rows = self.r.rows(
            "SELECT r.id, r.error, MIN(CASE WHEN s.passed THEN 1 ELSE 0 END) AS ok FROM eval_results r "
            f"LEFT JOIN eval_scores s ON s.result_id = r.id WHERE r.run_id = :run AND r.pairing_id = :p AND {LATEST_ATTEMPT} "
            "GROUP BY r.id, r.error", run=run_id, p=pairing_id)
        errors = sum(1 for r in rows if r["error"])
        passed = sum(1 for r in rows if not r["error"] and r["ok"] in (1, None))
        return len(rows), errors, passed

    def latest_run_for(self, pairing_id: str) -> str | None:
        """The id of the newest whole-suite run (of any suite; never a bisect or attribution replay
        of chosen cases) with results for ``pairing_id``."""
        return self.r.scalar(
            "SELECT r.id FROM eval_runs r WHERE r.kind = 'suite' AND EXISTS (SELECT 1 FROM eval_results x "
            "WHERE x.pairing_id = :p AND x.run_id = r.id) ORDER BY r.created_at DESC, r.id DESC LIMIT 1", p=pairing_id)

    def passing_run(self, suite: str, pairing_id: str, content_hash: str, *, repin: str = "") -> tuple[str | None, str]:
        """(the id of the run that lets ``pairing_id`` through a release gate pinning suite content
        ``content_hash`` (evals/suite_content.py), or None; why not, saying the way out).

        Only a whole-suite run counts: kind "suite" (never a bisect or attribution replay of chosen
        cases) of exactly the pinned content. Of those, the latest completed one that evaluated the
        pairing decides: every call of the pairing answered (cases x repeats, latest attempts), no
        errors, and a pass rate of at least the suite's min_pass_rate. ``suite``: the pinned suite's
        name, to find its runs of another content; ``repin``: the command that re-pins the gate."""
        short = content_hash[:12]
        rows = self.r.rows("SELECT id FROM eval_runs WHERE suite_content_hash = :h OR suite = :suite "
                           "ORDER BY created_at DESC, id DESC LIMIT 200", h=content_hash, suite=suite)
        evaluated = []
        for row in rows:
            run = self.run(row["id"])
            if run is not None and pairing_id in (run["plan"].get("fingerprint") or {}).get("pairings", []):
                evaluated.append(run)

        def whole(run: dict[str, Any]) -> bool:  # a plan with a case subset is a replay, whatever its kind says
            return run.get("kind", "suite") == "suite" and "cases" not in (run["plan"].get("fingerprint") or {})

        pinned = [r for r in evaluated if whole(r) and r.get("suite_content_hash") == content_hash]
        paths = [r["plan"].get("path") for r in evaluated if r.get("suite_content_hash") == content_hash]
        file = next((path for path in paths if path), "FILE")  # where a run of the pinned content was read from
        done = [r for r in pinned if r["state"] == "completed"]
        if done:
            run = done[0]
            pairings = run["plan"]["fingerprint"]["pairings"]
            results, errors, passed = self.pairing_counts(run["id"], pairing_id)
            fingerprint = run["plan"]["fingerprint"]
            expected = int(run["plan"].get("calls") or 0) // max(len(pairings), 1)
            cases = DatasetReader(self.r).by_id(run["dataset_version_id"])["cases"]
            expected = max(expected, len(cases) * int(fingerprint.get("repeats") or 1))
            scored = results - errors
            need = run["plan"].get("min_pass_rate")
            need = 1.0 if need is None else float(need)
            latest = f"the latest whole-suite run of the pinned suite content {short} that evaluated it"
            if results < expected or errors:
                return None, (f"{latest}, run {run['id']}, is incomplete for pairing {pairing_id}: {results - errors} "
                              f"of {expected} calls answered, {errors} error(s); a verdict over missing results is "
                              f"never a pass: resume it (`promptver eval {file} --resume {run['id']}`) or run the "
                              "suite again")
            rate = passed / scored if scored else 0.0
            if not scored or rate < need:
                return None, (f"in run {run['id']} ({latest}) pairing {pairing_id} passed {rate:.0%} "
                              f"(needs {need:.0%}): {passed} of {scored} calls passed")
            return run["id"], ""
        none = f"no completed whole-suite run of the pinned suite content {short} has evaluated pairing {pairing_id}"
        if pinned:
            run = pinned[0]
            return None, (f"{none}: run {run['id']} of it is {run['state'] or 'not started'}, not completed; finish it "
                          f"with `promptver eval {file} --resume {run['id']}`")
        others = [r for r in evaluated if whole(r)]
        if others:
            run = others[0]
            that = f"the latest run of suite {run['suite']!r} that did (run {run['id']})"
            if not run.get("suite_content_hash"):
                return None, (f"{none}; {that} recorded no suite content (it was made before suite contents were "
                              "recorded), so it cannot show it ran the pinned suite: run the pinned suite "
                              f"(`promptver eval {file}`) on this pairing")
            repin = repin or "promptver label protect PROMPT LABEL --require-suite FILE"
            return None, (f"{none}; {that} ran suite content {run['suite_content_hash'][:12]}, not the pinned {short}: "
                          "the suite file changed since the gate pinned it, or another file has its name. Run the "
                          f"pinned suite content, or have an admin re-pin the gate to the file as it is now: `{repin}`")
        replays = [r for r in evaluated if not whole(r)]
        if replays:
            kinds = sorted({r.get("kind") or "replay" for r in replays})
            return None, (f"{none}; only {len(replays)} replay(s) of chosen cases ({', '.join(kinds)}; latest: run "
                          f"{replays[0]['id']}) did, and replays never count for a release gate: run the whole suite "
                          f"(`promptver eval {file}`) on this pairing")
        return None, (f"{none}: run the pinned suite (`promptver eval {file}`) with this pairing among its prompts "
                      "and models")

    def results(self, run_id: str) -> list[dict[str, Any]]:
        """The run's results: per (pairing, case, repeat) its latest attempt (``--resume`` retries a call
        that ended in an error as a new attempt; the errored one stays stored, superseded)."""
        return self.r.rows(f"SELECT * FROM eval_results r WHERE run_id = :id AND {LATEST_ATTEMPT} ORDER BY id",
                           id=run_id)

    def all_attempts(self, run_id: str) -> list[dict[str, Any]]:
        """Every stored result of the run, superseded attempts included."""
        return self.r.rows("SELECT * FROM eval_results WHERE run_id = :id ORDER BY id", id=run_id)

    def scores(self, run_id: str) -> list[dict[str, Any]]:
        return self.r.rows("SELECT * FROM eval_scores WHERE run_id = :id ORDER BY id", id=run_id)

    # -- aggregates for reports: counted in SQL, so a report never holds every result -----------
    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's state events, oldest first (running, resumed, stopped, interrupted, completed...)."""
        rows = self.r.rows("SELECT state, details, created_at FROM eval_run_events WHERE run_id = :id ORDER BY id",
                           id=run_id)
        for row in rows:
            row["details"], row["created_at"] = _json(row["details"]) or {}, _time(row["created_at"])
        return rows

    def cell_totals(self, run_id: str) -> list[dict[str, Any]]:
        """Per pairing (latest attempts): results, errors, passed (no error and no failing score),
        cached; tokens of the answered calls and how many of them lack a count; the cost this run
        spent (cached calls cost nothing) and how many answered, uncached calls have no known cost;
        how many have a latency."""
        return self.r.rows(
            f"SELECT r.pairing_id, COUNT(*) AS results, SUM(CASE WHEN {_ERRORED} THEN 1 ELSE 0 END) AS errors, "
            f"SUM(CASE WHEN NOT {_ERRORED} AND {_NO_FAILED_SCORE} THEN 1 ELSE 0 END) AS passed, "
            "SUM(CASE WHEN r.cached THEN 1 ELSE 0 END) AS cached, "
            f"SUM(CASE WHEN NOT {_ERRORED} THEN r.prompt_tokens END) AS prompt_tokens, "
            f"SUM(CASE WHEN NOT {_ERRORED} THEN r.completion_tokens END) AS completion_tokens, "
            f"SUM(CASE WHEN NOT {_ERRORED} AND (r.prompt_tokens IS NULL OR r.completion_tokens IS NULL) "
            "THEN 1 ELSE 0 END) AS tokens_unknown, "
            "SUM(CASE WHEN NOT r.cached THEN r.cost_usd END) AS cost_usd, "
            f"SUM(CASE WHEN NOT r.cached AND NOT {_ERRORED} AND r.cost_usd IS NULL THEN 1 ELSE 0 END) AS cost_unknown, "
            "COUNT(r.latency_ms) AS latencies, "
            f"SUM(CASE WHEN NOT {_ERRORED} THEN r.latency_ms END) AS answered_latency_sum, "
            f"COUNT(CASE WHEN NOT {_ERRORED} THEN r.latency_ms END) AS answered_latencies "
            f"FROM eval_results r WHERE r.run_id = :run AND {LATEST_ATTEMPT} GROUP BY r.pairing_id", run=run_id)

    def latency_at(self, run_id: str, pairing_id: str, index: int) -> float | None:
        """The ``index``-th smallest latency of a pairing's results (latest attempts): a median in SQL."""
        return self.r.scalar(
            "SELECT r.latency_ms FROM eval_results r WHERE r.run_id = :run AND r.pairing_id = :p "
            f"AND r.latency_ms IS NOT NULL AND {LATEST_ATTEMPT} ORDER BY r.latency_ms LIMIT 1 OFFSET :k",
            run=run_id, p=pairing_id, k=index)

    def error_reasons(self, run_id: str, limit: int = 10) -> tuple[list[dict[str, Any]], int]:
        """The ``limit`` most frequent distinct errors of the run (latest attempts): kind, error,
        count, and a sample "PAIRING CASE" (the smallest); and how many distinct errors there are."""
        where = f"FROM eval_results r WHERE r.run_id = :run AND {_ERRORED} AND {LATEST_ATTEMPT}"
        rows = self.r.rows(
            "SELECT r.error_kind AS kind, r.error AS error, COUNT(*) AS n, "
            f"MIN(r.pairing_id || ' ' || r.case_id) AS sample {where} GROUP BY r.error_kind, r.error "
            "ORDER BY COUNT(*) DESC, MIN(r.id) LIMIT :limit", run=run_id, limit=limit)
        distinct = self.r.scalar(f"SELECT COUNT(*) AS n FROM (SELECT r.error_kind {where} "
                                 "GROUP BY r.error_kind, r.error) g", run=run_id)
        return rows, int(distinct or 0)

    def reported_models(self, run_id: str) -> list[dict[str, Any]]:
        """Per pairing, the distinct ``model`` values servers reported (pairing_id, value)."""
        return self.r.rows("SELECT DISTINCT r.pairing_id, r.response_model AS value FROM eval_results r "
                           f"WHERE r.run_id = :run AND r.response_model IS NOT NULL AND {LATEST_ATTEMPT} "
                           "ORDER BY r.pairing_id, r.response_model", run=run_id)

    def reported_fingerprints(self, run_id: str) -> list[dict[str, Any]]:
        """Per pairing, the distinct ``system_fingerprint`` values servers reported (pairing_id, value)."""
        return self.r.rows("SELECT DISTINCT r.pairing_id, r.system_fingerprint AS value FROM eval_results r "
                           f"WHERE r.run_id = :run AND r.system_fingerprint IS NOT NULL AND {LATEST_ATTEMPT} "
                           "ORDER BY r.pairing_id, r.system_fingerprint", run=run_id)

    def cell_outcomes(self, run_id: str, pairing_id: str) -> list[dict[str, Any]]:
        """One pairing's results (latest attempts): case_id, repeat, errored (0/1), ok (0/1: no
        error and no failing score)."""
        return self.r.rows(
            f"SELECT r.case_id, r.repeat, CASE WHEN {_ERRORED} THEN 1 ELSE 0 END AS errored, "
            f"CASE WHEN NOT {_ERRORED} AND {_NO_FAILED_SCORE} THEN 1 ELSE 0 END AS ok FROM eval_results r "
            f"WHERE r.run_id = :run AND r.pairing_id = :p AND {LATEST_ATTEMPT}", run=run_id, p=pairing_id)

    def cell_score_values(self, run_id: str, pairing_id: str) -> list[dict[str, Any]]:
        """One pairing's scores of answered calls (latest attempts): case_id, repeat, scorer, value."""
        return self.r.rows(
            "SELECT r.case_id, r.repeat, s.scorer, s.value FROM eval_scores s JOIN eval_results r ON r.id = s.result_id "
            f"WHERE r.run_id = :run AND r.pairing_id = :p AND NOT {_ERRORED} AND {LATEST_ATTEMPT}",
            run=run_id, p=pairing_id)

    def cell_results(self, run_id: str, pairing_id: str) -> list[dict[str, Any]]:
        """One pairing's results (latest attempts), in the order they were stored."""
        return self.r.rows(f"SELECT * FROM eval_results r WHERE r.run_id = :run AND r.pairing_id = :p "
                           f"AND {LATEST_ATTEMPT} ORDER BY r.id", run=run_id, p=pairing_id)

    def cell_failed_scores(self, run_id: str, pairing_id: str) -> list[dict[str, Any]]:
        """The failing scores of one pairing's results: result_id, scorer, detail."""
        return self.r.rows(
            "SELECT s.result_id, s.scorer, s.detail FROM eval_scores s JOIN eval_results r ON r.id = s.result_id "
            "WHERE r.run_id = :run AND r.pairing_id = :p AND NOT s.passed ORDER BY s.id", run=run_id, p=pairing_id)

    def result_of(self, run_id: str, pairing_id: str, case_id: str, repeat: int) -> dict[str, Any] | None:
        """The latest attempt of one call, with its scores (``scores``: scorer, value, passed, detail)."""
        row = self.r.row(f"SELECT * FROM eval_results r WHERE r.run_id = :run AND r.pairing_id = :p "
                         f"AND r.case_id = :c AND r.repeat = :k AND {LATEST_ATTEMPT}",
                         run=run_id, p=pairing_id, c=case_id, k=repeat)
        if row is not None:
            row["scores"] = self.r.rows("SELECT * FROM eval_scores WHERE result_id = :id ORDER BY id", id=row["id"])
        return row
