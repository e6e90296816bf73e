"""A team server as a client's source: ``GET {url}/v1/resolve?ref=REF`` over httpx.

The contract: ``Authorization: Bearer TOKEN`` when a token is set; ``If-None-Match: "ETAG"`` when
revalidating; 200 -> ``Resolved.to_json()`` with ``ETag``; 304 -> not modified; errors -> JSON
``{"error": {"type": "not_found", "message": "..."}}``. httpx is imported only by a remote client,
and its exceptions become promptver errors here, in one place (see sources.py for the meanings).

``timeout`` is a deadline for the whole request and ``max_bytes`` caps the answer (bounded_get.py):
a server that answers too slowly, drips, or sends too much is "registry unavailable", so the
client serves its snapshot.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from promptver import errors
from promptver.core.types import Resolved
from promptver.errors import Forbidden, InvalidValue, NotFound, RegistryUnavailable, Unauthorized
from promptver.runtime.lockfile import verify_entry
from promptver.runtime.snapshot import redact

DEFAULT_MAX_BYTES = 8 * 1024 * 1024  # a resolve answer holds a prompt and a model: each under 1 MB when pushed


class RemoteSource:
    """``promptver serve`` (or anything answering its ``/v1/resolve`` contract)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 2.0,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InvalidValue(f"registry url must start with http:// or https:// (got {redact(url)!r})")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 86_400:
            raise InvalidValue(f"timeout must be a positive number of seconds (got {timeout!r})")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1024:
            raise InvalidValue(f"max_response_bytes must be a whole number of bytes, at least 1024 (got {max_bytes!r})")
        self.url, self.location = url, redact(url)
        self._token, self._timeout, self._max_bytes = token or None, float(timeout), max_bytes
        self._http: Any = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _client(self) -> Any:
        with self._lock:
            if self._http is None or self._pid != os.getpid():  # never share sockets with a forked parent
                import httpx

                from promptver import __version__

                headers = {"Accept": "application/json", "User-Agent": f"promptver/{__version__}"}
                if self._token:
                    headers["Authorization"] = f"Bearer {self._token}"
                # no keep-alive: each request makes its own connection, whose socket bounded_get can shut
                self._http = httpx.Client(timeout=self._timeout, headers=headers, follow_redirects=False,
                                          limits=httpx.Limits(max_keepalive_connections=0))
                self._pid = os.getpid()
            return self._http

    def fetch(self, ref: str, etag: str | None) -> Resolved | None:
        import httpx

        from promptver.runtime.bounded_get import BadEncoding, Expired, TooLarge, bounded_get

        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        try:
            response = bounded_get(self._client(), f"{self.url}/v1/resolve", params={"ref": ref}, headers=headers,
                                   timeout=self._timeout, max_bytes=self._max_bytes)
        except (Expired, httpx.TimeoutException) as exc:
            raise RegistryUnavailable(f"the registry server {self.location} did not answer within "
                                      f"{self._timeout:g} s ({type(exc).__name__})") from exc
        except TooLarge as exc:
            raise RegistryUnavailable(f"the registry server {self.location} sent an answer for {ref} {exc} "
                                      "(the limit is Client(max_response_bytes=...))") from exc
        except BadEncoding as exc:
            raise RegistryUnavailable(f"the registry server {self.location} sent a bad answer for {ref}: {exc}") from exc
        except httpx.HTTPError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise RegistryUnavailable(f"cannot reach the registry server {self.location}: {reason}") from exc
        status = response.status
        if status == 304:
            return None
        if status == 200:
            try:
                return verify_entry(ref, json.loads(response.body), f"the answer of {self.location}")
            except (ValueError, RecursionError, errors.InvalidFile) as exc:
                reason = "nested too deeply" if isinstance(exc, RecursionError) else getattr(exc, "message", exc)
                raise RegistryUnavailable(f"the registry server {self.location} sent a bad answer for {ref}: "
                                          f"{reason}") from exc
        kind, message = self._error(response.body)
        text = f"{self.location}: {message}" if message else f"{self.location} answered {status} for {ref}"
        if status == 401:
            raise Unauthorized(text)
        if status == 403:
            raise Forbidden(text)
        if status == 404:
            raise NotFound(message or f"{ref} not found on {self.location}")
        if 400 <= status < 500 and status not in (408, 425, 429):
            raise errors.error_class(kind, status)(message or text)
        raise RegistryUnavailable(f"the registry server {self.location} answered {status}"
                                  + (f": {message}" if message else ""))

    @staticmethod
    def _error(body: bytes) -> tuple[str, str]:
        try:
            error = json.loads(body)["error"]
            return str(error.get("type", ""))[:100], " ".join(str(error.get("message", "")).split())[:500]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # a proxy's page, empty, cut
            return "", ""

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
