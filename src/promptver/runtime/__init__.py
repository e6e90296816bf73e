"""The client apps embed: fetch pinned pairs, cache them, render, call the model (docs/runtime.md).

    client.py     Client: memory -> registry -> snapshot -> fallback (or a lockfile alone)
    pair.py       PinnedPair: render, completion_kwargs, complete / acomplete
    cache.py      the in-memory pairs and the background refresher
    sources.py    the local registry database as a source; remote.py: a team server (httpx)
    backups.py    what answers when the registry cannot: the snapshot, then the fallback
    bounded_get.py  one HTTP GET with a deadline for the whole request and a size cap
    snapshot.py   the on-disk snapshot of last-known-good pairs
    lockfile.py   the lockfile format, entry verification; signing.py: Ed25519 signatures
    files.py      bounded reads of regular files, atomic writes
    health.py     whether the registry answers, and rate-limited warnings
    calls.py      litellm calls, and its exceptions -> promptver errors

Importing this package imports neither litellm nor httpx nor SQLAlchemy (nor cryptography).
"""

from promptver.runtime.client import Client
from promptver.runtime.pair import PinnedPair

__all__ = ["Client", "PinnedPair"]
