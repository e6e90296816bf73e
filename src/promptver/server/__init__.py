"""`promptver serve`: the HTTP API (FastAPI). Reads for apps (ETag = content hash), writes behind
scoped tokens, every route with a declared access policy (deny by default)."""
