"""Signed lockfiles: an Ed25519 signature inside the lockfile, over everything else in it.

The signature is the lockfile's ``"signature"`` member::

    "signature": {"alg": "ed25519", "key_id": "<16 hex: sha256 of the raw public key>", "value": "<base64>"}

and signs ``b"promptver.lock/1 signature\\n"`` followed by the canonical JSON (keys sorted, no
white space, ASCII-escaped) of the parsed lockfile with ``signature`` holding only ``alg`` and
``key_id``. It covers what a client uses (the parsed entries), not the bytes' layout; Ed25519 is
deterministic, so the same pairs and key give the same file. Keys are PEM files, the same as
``openssl genpkey -algorithm ed25519`` writes: the private key PKCS#8, the public key
SubjectPublicKeyInfo.

``cryptography`` is imported here only, and only when a key is made, read or used
(``pip install 'promptver[sign]'``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from promptver.errors import InvalidFile, InvalidValue, UsageError
from promptver.runtime.files import MAX_KEY_BYTES, read_regular

ALG = "ed25519"
CONTEXT = b"promptver.lock/1 signature\n"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise UsageError("signed lockfiles need the cryptography package: pip install 'promptver[sign]'") from None
    return serialization, ed25519


def payload(doc: dict[str, Any], signer: dict[str, Any]) -> bytes:
    """The bytes signed for lockfile ``doc`` (its ``signature`` member is ignored) by ``signer``."""
    unsigned = {key: value for key, value in doc.items() if key != "signature"}
    unsigned["signature"] = {"alg": signer.get("alg"), "key_id": signer.get("key_id")}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return CONTEXT + text.encode("ascii")


def key_id(public_key: Any) -> str:
    serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(doc: dict[str, Any], private_key: Any) -> dict[str, str]:
    """The ``signature`` member for ``doc`` (a parsed lockfile)."""
    signer = {"alg": ALG, "key_id": key_id(private_key.public_key())}
    value = base64.b64encode(private_key.sign(payload(doc, signer))).decode("ascii")
    return {**signer, "value": value}


def verify(doc: dict[str, Any], public_key: Any, where: str) -> str:
    """The key id if ``doc``'s signature verifies with ``public_key``; ``InvalidFile`` if not."""
    from cryptography.exceptions import InvalidSignature

    mine = key_id(public_key)
    signature = doc.get("signature")
    if signature is None:
        raise InvalidFile(f"{where} is not signed, and a public key was given to check it "
                          "(sign it with `promptver lock --sign KEYFILE`)")
    try:
        if not isinstance(signature, dict) or signature.get("alg") != ALG:
            raise ValueError(f"alg must be {ALG!r}")
        value = base64.b64decode(str(signature.get("value", "")), validate=True)
        if len(value) != 64:
            raise ValueError("an Ed25519 signature is 64 bytes")
    except (ValueError, binascii.Error) as exc:
        raise InvalidFile(f"{where}: its signature is malformed ({exc})") from None
    if signature.get("key_id") != mine:
        raise InvalidFile(f"{where} was signed with key {str(signature.get('key_id'))[:40]!r}, "
                          f"not with the public key given ({mine})")
    try:
        public_key.verify(value, payload(doc, signature))
    except InvalidSignature:
        raise InvalidFile(f"{where}: the signature does not verify with public key {mine}: "
                          "the lockfile was changed after it was signed") from None
    return mine


# -- keys ------------------------------------------------------------------------------------------
def _pem(source: str | bytes | os.PathLike[str], what: str) -> tuple[bytes, str]:
    """(PEM bytes, where they came from) of a key given as a path or as PEM text."""
    if isinstance(source, bytes) and source.lstrip().startswith(b"-----BEGIN"):
        return source, what
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode("ascii", "replace"), what
    if not isinstance(source, (str, bytes, os.PathLike)):
        raise InvalidValue(f"{what} must be the path of a PEM file or its text (got {type(source).__name__})")
    path = os.fsdecode(source)
    return read_regular(path, MAX_KEY_BYTES, what), path


def load_private_key(source: str | os.PathLike[str]) -> Any:
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import UnsupportedAlgorithm

    data, where = _pem(source, "the private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InvalidFile(f"{where} is an encrypted private key: give an unencrypted one "
                          "(keep it in your CI's secret store)") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidFile(f"{where} is not a PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InvalidFile(f"{where} is not an Ed25519 private key (make one with `promptver lock --keygen PATH`)")
    return key


def load_public_key(source: str | bytes | os.PathLike[str]) -> Any:
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import UnsupportedAlgorithm

    data, where = _pem(source, "the public key")
    if b"PRIVATE KEY" in data:
        raise InvalidFile(f"{where} is a private key: give its public key (the .pub file)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidFile(f"{where} is not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InvalidFile(f"{where} is not an Ed25519 public key")
    return key


def keygen(path: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write a new key pair: ``path`` (private, mode 0600) and ``path.pub``; never overwrites."""
    serialization, ed25519 = _crypto()
    private_path = Path(path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for target in (private_path, public_path):
        if target.exists() or target.is_symlink():
            raise InvalidValue(f"{target} exists: choose another path (a key is never overwritten)")
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    written: list[Path] = []
    try:
        for target, data, mode in ((private_path, private_pem, 0o600), (public_path, public_pem, 0o644)):
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            written.append(target)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
    except OSError as exc:
        for target in written:
            target.unlink(missing_ok=True)
        raise InvalidValue(f"cannot write the key {exc.filename or path}: {exc.strerror or exc}") from None
    return private_path, public_path, key_id(key.public_key())
