"""Storage: SQLModel tables (only here), engine setup, database guards, migrations and the
plain-SQL read path used by `promptver get` and the runtime client."""
