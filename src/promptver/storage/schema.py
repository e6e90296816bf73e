"""Facts about the schema that opening a database needs without importing SQLAlchemy: the newest
migration this promptver knows, the ones before it, the tables the guards make append-only, and
the columns each table's hash chain covers. One place for each; tables.py, migrate.py,
guards.py, chain.py, the writers and services.database import them from here (a test checks them against
tables.py)."""

KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009")
HEAD = KNOWN_REVISIONS[-1]  # == Alembic's head (a test checks)
APPEND_ONLY_TABLES = (
    "prompts", "prompt_versions", "models", "model_versions", "pairings",
    "label_events", "annotations", "audit_events",
    "users", "role_grants", "api_tokens", "token_revocations", "label_policies",
    "datasets", "dataset_versions", "eval_runs", "eval_run_events", "eval_results", "eval_scores",
    "response_cache", "score_cache", "attribution_reports",
)

# Every append-only table but the two caches is one hash chain (core/chain.py), in this order in a
# head token. The caches are not history: what a cached answer was is in the eval result that used
# it (chained); a cache row is still append-only, and an eval writes one of each per call.
CHAINED_TABLES = tuple(t for t in APPEND_ONLY_TABLES if t not in ("response_cache", "score_cache"))
# "name:kind" per column, in table order (the order of a chained row); a bare name is text. The
# first column is the primary key; chain_seq and chain_hash are not listed.
_COLUMNS = {
    "prompts": "id:int name owner created_at:time",
    "prompt_versions": "id:int prompt_id:int version:int parent_id:int content_hash messages:json variables:json "
                       "variable_names:json tools:json response_format:json description message tags:json author "
                       "created_at:time",
    "models": "id:int name owner created_at:time",
    "model_versions": "id:int model_id:int version:int parent_id:int content_hash model params:json base_model "
                      "weights_uri weights_sha256 training_data_ref training_data_hash training_code_repo "
                      "training_code_commit hyperparameters:json environment:json metrics:json description message "
                      "tags:json author created_at:time",
    "pairings": "id prompt_id:int prompt_version_id:int model_version_id:int message author created_at:time",
    "label_events": "id:int prompt_id:int label seq:int pairing_id previous_pairing_id actor reason gate_override "
                    "created_at:time",
    "annotations": "id:int prompt_version_id:int model_version_id:int tag note actor created_at:time",
    "audit_events": "id:int at:time actor action target details:json",
    "users": "id:int name created_by created_at:time",
    "role_grants": "id:int user_id:int role actor created_at:time",
    "api_tokens": "id:int token_hash prefix user_id:int role fetch_only:bool name created_by created_at:time "
                  "expires_at:time",
    "token_revocations": "id:int token_id:int actor reason created_at:time",
    "label_policies": "id:int prompt label protected:bool distinct_author:bool require_suite require_suite_hash actor "
                      "created_at:time",
    "datasets": "id:int name owner created_at:time",
    "dataset_versions": "id:int dataset_id:int version:int content_hash cases:json source message author "
                        "created_at:time",
    "eval_runs": "id suite suite_hash kind suite_content_hash dataset_version_id:int plan:json environment:json actor "
                 "created_at:time",
    "eval_run_events": "id:int run_id state details:json created_at:time",
    "eval_results": "id:int run_id pairing_id case_id repeat:int attempt:int request_key output latency_ms:float "
                    "prompt_tokens:int completion_tokens:int cost_usd:float cached:bool error error_kind "
                    "response_model system_fingerprint created_at:time",
    "eval_scores": "id:int run_id result_id:int scorer scorer_version value:float passed:bool detail",
    "response_cache": "key response:json created_at:time",
    "score_cache": "key value:float passed:bool detail created_at:time",
    "attribution_reports": "id kind prompt before_pairing after_pairing suite report:json actor created_at:time",
}
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    table: tuple((c.partition(":")[0], c.partition(":")[2] or "str") for c in spec.split())
    for table, spec in _COLUMNS.items()
}
# what a writer may leave out (the SQLModel defaults)
COLUMN_DEFAULTS = {
    ("api_tokens", "fetch_only"): False, ("api_tokens", "name"): "", ("label_policies", "distinct_author"): False,
    ("eval_runs", "kind"): "suite", ("eval_results", "repeat"): 0, ("eval_results", "attempt"): 0,
    ("eval_results", "cached"): False,
}
PRIMARY_KEYS = {"response_cache": "key", "score_cache": "key"}  # else "id"
INTEGER_IDS = tuple(t for t, cols in COLUMNS.items() if cols[0] == ("id", "int"))  # allocated by the writer
# the unique keys besides the primary key: an INSERT OR REPLACE that hits one is refused (guards.py)
NATURAL_KEYS = {
    "prompts": [("name",)], "models": [("name",)], "users": [("name",)], "datasets": [("name",)],
    "prompt_versions": [("prompt_id", "version")], "model_versions": [("model_id", "version")],
    "pairings": [("prompt_version_id", "model_version_id")], "label_events": [("prompt_id", "label", "seq")],
    "api_tokens": [("token_hash",)], "dataset_versions": [("dataset_id", "version")],
    "eval_results": [("run_id", "pairing_id", "case_id", "repeat", "attempt")],
    "eval_scores": [("result_id", "scorer")],
}
