"""Use-cases over the registry: open it, push versions, pair, move labels, sync files, verify.
Each write is one transaction that also appends its audit event."""
