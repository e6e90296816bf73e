"""Model providers promptver brings itself, and what it knows about the others.

    echo.py          ``promptver/echo``: the built-in offline model (deterministic, no network, no key)
    echo_litellm.py  the same model as a litellm custom provider (imports litellm: load it lazily)
    prices.py        per-token prices from litellm's bundled cost map, read without importing litellm

A low layer: it imports nothing of promptver but ``core`` and ``errors``.
"""
