"""The `promptver` command line (Typer + Rich). Commands parse input, call services and render;
errors are rendered only in ``main.main`` (stderr, exit 2 for bad input, 1 for failures)."""
