"""Lockfiles: resolved pairs with their full content, shipped with an app (docs/runtime.md).

Format ``promptver.lock/1``, JSON::

    {"format": "promptver.lock/1",
     "entries": {"support-reply@production": <Resolved.to_json(): prompt, model, pairing, etag, label>},
     "signature": {"alg": "ed25519", "key_id": "...", "value": "..."}}      (optional: signing.py)

Every entry is verified when loaded (``verify_entry``, also used for snapshots and fallbacks): the
prompt's and the model's content hashes are recomputed from their content, the pairing id from
the two versions, the etag from those, and the entry must answer its ref (same name, version,
label or pairing id). A tampered or corrupted entry is refused with a message naming it. The
hashes catch corruption and edits by hand, not a forger who recomputes them: with a public key,
``load`` also requires a signature that verifies (signing.py), checked before the entries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from promptver.core.identity import content_hash, pairing_id
from promptver.core.refs import parse_ref
from promptver.core.types import Resolved
from promptver.errors import InvalidFile, InvalidValue, PromptverError
from promptver.runtime.files import MAX_LOCKFILE_BYTES, atomic_write, read_regular

FORMAT = "promptver.lock/1"
__all__ = ["FORMAT", "atomic_write", "canonical_ref", "dumps", "fallbacks", "load", "read_doc", "verify_entry",
           "verify_entries"]


def canonical_ref(ref: str) -> str:
    """The ref as entries are keyed (``InvalidRef`` if it does not parse)."""
    return str(parse_ref(ref))


def verify_entry(key: str, data: Any, where: str) -> Resolved:
    """The entry ``data`` for ref ``key`` as a ``Resolved``; ``InvalidFile`` if it is malformed,
    tampered or does not answer ``key``."""
    def bad(reason: str) -> InvalidFile:
        return InvalidFile(f"{where}: entry {key!r} {reason}")

    try:
        ref = parse_ref(key)
        resolved = Resolved.from_json(data)
        prompt, model, pairing = resolved.pairing.prompt, resolved.pairing.model, resolved.pairing
        prompt_ok = content_hash(prompt.identity()) == prompt.content_hash
        model_ok = content_hash(model.identity()) == model.content_hash
    except PromptverError as exc:
        raise bad(f"is invalid: {exc.message}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(f"is malformed ({type(exc).__name__}: {exc})") from None
    if not prompt_ok:
        raise bad(f"was altered: the content of prompt {prompt.ref} does not match its content hash")
    if not model_ok:
        raise bad(f"was altered: the content of model {model.ref} does not match its content hash")
    expected = pairing_id(prompt.content_hash, model.content_hash, prompt.name, prompt.version,
                          model.name, model.version)
    if pairing.id != expected:
        raise bad(f"was altered: pairing id {pairing.id} does not match {prompt.ref} + {model.ref}")
    if data.get("etag") is not None and data["etag"] != resolved.etag:
        raise bad("was altered: its etag does not match its content")
    if ref.pairing and not pairing.id.startswith(ref.pairing):
        raise bad(f"holds pairing {pairing.id}, not {ref.pairing}")
    if ref.name is not None and (ref.name != prompt.name or (ref.version not in (None, prompt.version))
                                 or ref.label != resolved.label):
        raise bad(f"does not answer the ref: it holds {prompt.ref} via label {resolved.label or '-'}")
    return resolved


def dumps(entries: Mapping[str, Resolved], sign_with: Any = None) -> str:
    """The lockfile text: entries sorted by ref, no timestamps (the same pairs give the same bytes);
    signed with the Ed25519 private key ``sign_with`` when given (signing.py)."""
    doc: dict[str, Any] = {"format": FORMAT, "entries": {key: entries[key].to_json() for key in sorted(entries)}}
    if sign_with is not None:
        from promptver.runtime import signing

        parsed = json.loads(json.dumps(doc, ensure_ascii=False))  # exactly what a reader will parse
        doc["signature"] = signing.sign(parsed, sign_with)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def read_doc(path: str | os.PathLike[str], public_key: Any = None) -> tuple[dict[str, Any], str | None]:
    """The parsed lockfile (format and shape checked, entries not yet) and the id of the key its
    signature verified with (None without ``public_key``); ``InvalidFile`` naming the file."""
    where = str(path)
    try:
        doc = json.loads(read_regular(path, MAX_LOCKFILE_BYTES, "a lockfile").decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidFile(f"{where} is not valid JSON: {reason}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise InvalidFile(f"{where} is not a promptver lockfile (format {found!r}, expected {FORMAT!r})")
    if not isinstance(doc.get("entries"), dict):
        raise InvalidFile(f"{where}: 'entries' must be an object mapping refs to resolved pairs")
    signed_by = None
    if public_key is not None:
        from promptver.runtime import signing

        signed_by = signing.verify(doc, public_key, where)
    return doc, signed_by


def load(path: str | os.PathLike[str], public_key: Any = None) -> dict[str, Resolved]:
    """Read and verify a lockfile; ``InvalidFile`` naming the file (and the entry) when it is not
    right. With ``public_key`` (a loaded Ed25519 public key), its signature must verify too."""
    doc, _ = read_doc(path, public_key)
    return verify_entries(doc["entries"], str(path))


def verify_entries(entries: Mapping[str, Any], where: str) -> dict[str, Resolved]:
    """Verify each entry; keyed by canonical ref."""
    out: dict[str, Resolved] = {}
    for key, data in entries.items():
        resolved = verify_entry(str(key), data, where)
        out[canonical_ref(str(key))] = resolved
    return out


def fallbacks(fallback: Any, public_key: Any = None) -> dict[str, Resolved]:
    """``Client(fallback=...)``: a lockfile path, or a mapping ref -> ``PinnedPair`` or lockfile entry."""
    from promptver.runtime.pair import PinnedPair

    if fallback is None:
        return {}
    if isinstance(fallback, (str, os.PathLike)):
        return load(fallback, public_key)
    if public_key is not None:
        raise InvalidValue("public_key= checks the signature of a lockfile: give fallback= a lockfile path")
    if not isinstance(fallback, Mapping):
        raise InvalidValue("fallback must map refs to PinnedPair objects or lockfile entries, or name a lockfile")
    entries = {key: value.to_json() if isinstance(value, PinnedPair) else value for key, value in fallback.items()}
    return verify_entries(entries, "fallback")
