"""Facts about the schema that opening a database needs without importing SQLAlchemy: the newest
migration this promptver knows, the ones before it, and the tables the guards make append-only.
One place for each; tables.py, migrate.py and services.database import them from here."""

KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008")
HEAD = KNOWN_REVISIONS[-1]  # == Alembic's head (a test checks)
APPEND_ONLY_TABLES = (
    "prompts", "prompt_versions", "models", "model_versions", "pairings",
    "label_events", "annotations", "audit_events",
    "users", "role_grants", "api_tokens", "token_revocations", "label_policies",
    "datasets", "dataset_versions", "eval_runs", "eval_run_events", "eval_results", "eval_scores",
    "response_cache", "score_cache", "attribution_reports",
)
