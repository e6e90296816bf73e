"""Secrets are never stored: the scanner every write goes through (pure, no I/O).

``refuse_secrets(value, where)`` walks a JSON-like value (mappings, lists, strings) and raises
``SecretRefused`` naming the path of the first credential it finds (``params.extra_headers.X-Api-Key``),
never the value. Three kinds of rule, in this order:

1. **Names** (``names=True``: model params and lineage, where a key names a setting): a key whose
   words (split on ``_ - .``, spaces and camelCase) name a credential holds one: ``api_key``,
   ``X-Api-Key``, ``openaiApiKey``, ``Ocp-Apim-Subscription-Key``, ``authToken``, ``secretKey``,
   ``password``/``pwd``/``passphrase``, ``Cookie``, ``Authorization``, ``credentials``, a bare ``key``,
   ``wandb_key``. Not: counts and vocabulary (``max_tokens``, ``eos_token``, ``pad_token_id``,
   ``tokenizer``), keys that index data (``prompt_cache_key``, ``sort_key``, ``public_key``), package
   names under ``packages`` and property names inside ``response_format``, ``tools`` or a ``schema``. Only a value that can hold one is refused: text or a container with
   text (numbers too under a password-like name, since YAML reads ``password: 123456`` as a number);
   booleans, numbers, null and "" never are (``use_auth_token: true`` is a switch, not a token).
   Prompt tools, response formats and variable schemas, dataset cases and free text get no name
   rule: there a key is a schema property or test data (a tool may take a ``password`` argument).
2. **Shapes** (everywhere, keys too): values shaped like a known credential. Our own patterns cover
   the LLM providers and forges (``sk-``, ``sk-ant-``, ``gsk_``, ``xai-``, ``hf_``, ``AIza``,
   ``ghp_``/``ghs_``/``github_pat_``, ``glpat-``, AWS ids, JWTs, ``Bearer``/``Basic`` credentials,
   private key blocks, ``Password=`` in connection strings); then the regex plugins of Yelp's
   ``detect-secrets`` (Stripe, Slack, Twilio, SendGrid, PyPI, Discord, Telegram, Azure storage, ...),
   imported on the first scan that needs them (``promptver get`` and ``import promptver`` never do)
   and run once per value over its distinct words of 16+ characters (below: which plugins and why).
   A URL anywhere is refused if it carries a password
   (``https://oauth2:glpat-...@host``) or a credential-named query or fragment parameter
   (``?key=``, ``?api_key=``, ``?token=``, ``?sig=``, ``X-Amz-Signature=``); a placeholder value
   (``{{ key }}``, ``${API_KEY}``, ``<your-key>``) is not a credential.
3. **Header values**: inside a mapping named ``headers``/``extra_headers``, an opaque value (32+ hex
   digits, as Azure keys are, or 32+ base64 characters with letters and digits) is refused whatever
   the header is called. Elsewhere a bare hex string is a hash (a git commit, ``weights_sha256``, an
   md5 of a dataset) and is kept: an unprefixed key (Azure, Mistral, Cohere, W&B) is caught by the
   name of the field or header that holds it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from promptver.errors import PromptverError, SecretRefused

ADVICE = ("secrets are never stored in the registry; API keys and credentials come from the environment "
          "(e.g. OPENAI_API_KEY) at call time")

# -- names ----------------------------------------------------------------------------------------
_STRONG = frozenset({"secret", "secrets", "password", "passwords", "passwd", "pwd", "passphrase", "passcode",
                     "credential", "credentials", "creds", "authorization", "auth", "bearer", "cookie", "cookies",
                     "apikey", "apikeys"})
_PASSWORDISH = frozenset({"password", "passwd", "pwd", "passphrase", "passcode", "pass", "pw", "secret"})
_COMPOUNDS = ("apikey", "apitoken", "authtoken", "accesstoken", "refreshtoken", "sessiontoken", "bearertoken",
              "accesskey", "secretkey", "privatekey", "clientsecret", "password", "passwd", "passphrase",
              "subscriptionkey", "accountkey", "signingkey", "masterkey")
_WHOLE = frozenset({"key", "pass", "pw", "sig"})
_KEY_INDEXES = frozenset({  # "<word>_key" that names a lookup key, not a credential
    "cache", "idempotency", "sort", "partition", "primary", "foreign", "unique", "group", "dedup", "dedupe",
    "routing", "shard", "lookup", "column", "field", "dict", "map", "index", "label", "labels", "metric", "public",
    "sample", "split", "join", "input", "output", "target", "text", "feature", "dataset", "data", "row", "record",
    "id", "hash", "message", "prompt", "response", "answer", "question", "context", "image", "audio", "document",
    "content", "result", "value", "name", "task", "score", "reference", "chosen", "rejected", "completion",
    "conversation", "conversations", "instruction", "query", "bucket", "sequence", "sorting", "grouping"})
_TOKEN_BEFORE = frozenset({  # "<word>_token": a vocabulary item or a count, not a credential
    "max", "min", "num", "stop", "eos", "bos", "pad", "unk", "sep", "cls", "mask", "start", "end", "special",
    "image", "audio", "video", "vision", "placeholder", "boundary", "sentinel", "per", "eot", "eom", "decoder",
    "fim", "think", "thinking", "tool", "default", "chat", "first", "last", "next", "new", "add", "sequence",
    "separator", "generation", "bad", "im", "begin"})
_TOKEN_AFTER = frozenset({"id", "ids", "count", "counts", "limit", "limits", "length", "len", "budget", "type", "types",
                          "index", "prob", "probs", "logprob", "logprobs", "level", "accuracy", "loss", "str",
                          "string", "healing", "usage", "cost", "costs", "rate"})
_ALLOWED = frozenset({"max_tokens", "max_completion_tokens", "max_new_tokens", "top_logprobs", "tokens",
                      "max_output_tokens", "stop_token", "stop_tokens", "token_limit", "tokenizer", "tokenizer_ref",
                      "tokenizer_hash", "max_input_tokens"})
_DATA_KEYS = frozenset({  # keys under these are package names or JSON-schema properties, not settings
    "packages", "dependencies", "requirements", "response_format", "tools", "functions", "guided_json",
    "json_schema", "schema", "properties"})
_QUERY_ONLY = frozenset({"signature"})  # credentials in a URL query, settings elsewhere


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # linear even on a 1 MB key


def words(name: str) -> list[str]:
    """``"openaiApiKey"`` -> ``["openai", "api", "key"]``; ``"X-API-KEY"`` -> ``["x", "api", "key"]``;
    ``"APIKey"`` -> ``["api", "key"]``."""
    return [w.lower() for w in _WORD.findall(name)]


@lru_cache(maxsize=4096)  # the same few names come back on every case of a dataset
def credential_name(name: str, *, in_url: bool = False) -> bool:
    """Whether a key called ``name`` holds a credential (the name rule of the module docstring)."""
    if name.lower() in _ALLOWED:
        return False
    parts = words(name)
    if not parts:
        return False
    if "".join(parts) in _WHOLE or (in_url and any(p in _QUERY_ONLY for p in parts)):
        return True
    if any(p in _STRONG for p in parts):
        return True
    pairs = ["".join(parts[i:i + 2]) for i in range(len(parts) - 1)]
    if any(c in p for p in parts for c in _COMPOUNDS) or any(p in _COMPOUNDS or p[:-1] in _COMPOUNDS for p in pairs):
        return True
    if "token" in parts:
        i = parts.index("token")
        before = parts[i - 1] if i else ""
        after = parts[i + 1] if i + 1 < len(parts) else ""
        return before not in _TOKEN_BEFORE and after not in _TOKEN_AFTER
    if parts[-1] == "key":
        return len(parts) == 1 or parts[-2] not in _KEY_INDEXES
    return False


def _can_hold_secret(value: Any, password_like: bool) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item.strip():
                return True
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, (int, float)):
            if password_like:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


# -- shapes ---------------------------------------------------------------------------------------
def _has_digit(token: str) -> bool:
    return any(c.isdigit() for c in token)


def _bearer(token: str) -> bool:
    body = token.split(None, 1)[1]
    return _has_digit(body) and any(c.isalpha() for c in body)


def _basic(token: str) -> bool:
    body = token.split(None, 1)[1]
    try:
        text = base64.b64decode(body + "=" * (-len(body) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in text and text.isprintable()


# (what it is, the pattern, literals one of which a match contains (a fast filter), a check of the match)
_SHAPES: list[tuple[str, str, tuple[str, ...], Callable[[str], bool] | None]] = [
    ("an OpenAI or Anthropic API key", r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}", ("sk-",), _has_digit),
    ("a Groq API key", r"\bgsk_[A-Za-z0-9]{20,}", ("gsk_",), None),
    ("an xAI API key", r"\bxai-[A-Za-z0-9]{20,}", ("xai-",), None),
    ("an AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[0-9A-Z]{16}\b",
     ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"), None),
    ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9_]{30,}", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), None),
    ("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}", ("github_pat_",), None),
    ("a GitLab token", r"\bgl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_-]{20,}",
     ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-"), None),
    ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", ("xox",), None),
    ("a Google API key", r"\bAIza[0-9A-Za-z_-]{30,}", ("AIza",), None),
    ("a Google OAuth token", r"\bya29\.[0-9A-Za-z_-]{20,}", ("ya29.",), None),
    ("a Hugging Face token", r"\b(?:hf|api_org)_[A-Za-z0-9]{30,}", ("hf_", "api_org_"), None),
    ("a Replicate token", r"\br8_[A-Za-z0-9]{30,}", ("r8_",), None),
    ("a Perplexity API key", r"\bpplx-[A-Za-z0-9]{32,}", ("pplx-",), None),
    ("a LangSmith API key", r"\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}", ("lsv2_",), None),
    ("a Databricks token", r"\bdapi[a-f0-9]{32}\b", ("dapi",), None),
    ("an npm token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",), None),
    ("a Stripe key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{20,}", ("k_live_", "k_test_"), None),
    ("a Fireworks API key", r"\bfw_[A-Za-z0-9]{20,}", ("fw_",), None),
    ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.", ("eyJ",), None),
    ("a private key", r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", ("PRIVATE KEY",), None),
    ("a bearer token", r"\bBearer\s+[A-Za-z0-9._~+/=-]{12,}", ("Bearer",), _bearer),
    ("HTTP basic credentials", r"\bBasic\s+[A-Za-z0-9+/]{6,}={0,2}", ("Basic",), _basic),
    ("a password in a connection string",
     r"(?:^|;)\s*(?i:password|pwd|accountkey|sharedaccesskey|sharedaccesssignature)\s*=\s*[^;\s'\"]{3,}", ("=",), None),
]
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s\"'<>]+")  # a bounded scheme: linear on long words
_PLACEHOLDER = re.compile(r"\{\{.*|\{%.*|\$\{?[A-Z_][A-Z0-9_]*\}?|<[^<>]*>?|%3C.*|\*+|x+|\.\.\.", re.IGNORECASE)
_HEX = re.compile(r"[0-9A-Fa-f]{32,}")
_OPAQUE = re.compile(r"[A-Za-z0-9+/]{32,}={0,2}")
_SHORTEST = 8  # no credential shape is shorter ("a://b:c@d" is 9)


@cache
def _shape_patterns() -> tuple[re.Pattern[str], dict[str, list[int]], tuple[re.Pattern[str], ...]]:
    """The literals of every shape as one pattern, which shapes each literal starts, and the shapes'
    patterns; compiled on first use (`promptver get` never needs them)."""
    starts: dict[str, list[int]] = {}
    for i, (_, _, literals, _) in enumerate(_SHAPES):
        for literal in literals:
            starts.setdefault(literal, []).append(i)
    literals = re.compile("|".join(re.escape(lit) for lit in sorted(starts, key=len, reverse=True)))
    return literals, starts, tuple(re.compile(pattern) for _, pattern, _, _ in _SHAPES)


def _own_shape(text: str) -> str | None:
    """A shape's pattern runs only on a text holding one of its literals: one fast pass finds them,
    then a linear pass per shape present (never 23 alternatives tried at every position)."""
    literals, starts, patterns = _shape_patterns()
    found = set(literals.findall(text))
    if not found:
        return None
    for i in sorted({i for literal in found for i in starts[literal]}):
        kind, _, _, check = _SHAPES[i]
        for match in patterns[i].finditer(text):
            if check is None or check(match.group()):
                return f"this value looks like {kind}"
    return None


def _placeholder(value: str) -> bool:
    return not value.strip() or bool(_PLACEHOLDER.fullmatch(value.strip()))


def _url_problem(text: str) -> str | None:
    for match in _URL.finditer(text):
        url = match.group()
        try:
            parts = urlsplit(url)
            password = parts.password
        except ValueError:  # a malformed host or port: judge the userinfo by its shape
            parts, password = None, None
            userinfo = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
            if ":" in userinfo:
                password = userinfo.split(":", 1)[1]
        if password and not _placeholder(password):
            return "this URL carries a password (user:password@host)"
        if parts is None:
            continue
        for part in (parts.query, parts.fragment):
            for key, value in parse_qsl(part, keep_blank_values=False):
                if credential_name(key, in_url=True) and not _placeholder(value):
                    return f"this URL carries a credential in its query ({key}=...)"
    return None


def _opaque(value: str) -> bool:
    value = value.strip()
    if _HEX.fullmatch(value):
        return True
    return bool(_OPAQUE.fullmatch(value)) and _has_digit(value) and any(c.isalpha() for c in value)


def shape_problem(text: str, *, header: bool = False) -> str | None:
    """Why ``text`` looks like (or carries) a credential by our own patterns, or None (detect-secrets'
    plugins run once over a whole value: ``find_secret``). Never includes the value."""
    if len(text) < _SHORTEST:
        return None
    found = _own_shape(text)
    if found is None and "://" in text:
        found = _url_problem(text)
    if found is None and header and _opaque(text):
        found = "this header value looks like an API key (an opaque token)"
    return found


# -- detect-secrets -------------------------------------------------------------------------------
# Its plugins were written for lines of code; here they run on each distinct word (split on spaces
# and quotes) of 16 or more characters, all words of a value in one pass, as a line holding just
# that value. Every plugin's shortest match is longer, except the ones our own patterns cover
# (a URL's password, a private key header, a short Slack token).
# Left out: KeywordDetector and the high-entropy plugins read source lines ("password = ...") and
# flag every hash (a git commit, weights_sha256); the name rule does their job on structured values.
# IPPublicDetector: an address is not a credential. ArtifactoryDetector: any word "AP" + a hex digit
# + 8 letters or digits (``APEXLEGENDS1``). NpmDetector, OpenAIDetector and JwtTokenDetector take
# quadratic time on a long word repeating their prefix (``//``, ``sk-``, ``eyJ``: seconds for 40 KB,
# a way to stall a server); npm tokens, OpenAI keys and JWTs are among our own patterns.
_LEFT_OUT = frozenset({"KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector",
                       "ArtifactoryDetector", "NpmDetector", "OpenAIDetector", "JwtTokenDetector"})
_WORD_SPLIT = re.compile(r"[\s\"'`<>()\[\]{},;]+")
_LIBRARY_SHORTEST = 16


@cache
def _library() -> tuple[re.Pattern[str], tuple[Any, ...]]:
    """detect-secrets' regex plugins, and one pattern that finds any of their matches (a fast filter)."""
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.base import RegexBasedDetector
    except ImportError as exc:  # a broken install: refuse to write rather than write unchecked
        raise PromptverError(f"detect-secrets is not installed ({exc}); reinstall promptver") from exc
    plugins = tuple(cls() for cls in sorted(get_mapping_from_secret_type_to_class().values(), key=lambda c: c.__name__)
                    if issubclass(cls, RegexBasedDetector) and cls.__name__ not in _LEFT_OUT)
    branches = []
    for plugin in plugins:
        for regex in plugin.denylist:
            flags = "i" if regex.flags & re.IGNORECASE else ""
            flags += "x" if regex.flags & re.VERBOSE else ""
            branches.append(f"(?{flags}:{regex.pattern})" if flags else f"(?:{regex.pattern})")
    return re.compile("|".join(branches)), plugins


def _long_words(text: str) -> list[str]:
    if len(text) < _LIBRARY_SHORTEST:
        return []
    return [w for w in _WORD_SPLIT.split(text) if len(w) >= _LIBRARY_SHORTEST]


def _library_problem(words_at: dict[str, tuple[str, str]]) -> str | None:
    """The first word (in walking order) that one of detect-secrets' plugins matches, as a message."""
    if not words_at:
        return None
    prefilter, plugins = _library()
    if prefilter.search("\n".join(words_at)) is None:
        return None
    for word, (path, what) in words_at.items():
        if prefilter.search(word) is None:
            continue
        for plugin in plugins:
            if any(True for _ in plugin.analyze_string(word)):
                return f"{path}: {what} looks like a secret of type {plugin.secret_type!r} (detect-secrets)"
    return None


# -- walking --------------------------------------------------------------------------------------
def _join(path: str, key: str) -> str:
    return f"{path}{key}" if not path or path.endswith(": ") else f"{path}.{key}"


def _problems(value: Any, where: str, names: bool, words_at: dict[str, tuple[str, str]] | None) -> Iterator[str]:
    """Our own rules, value by value; the words for detect-secrets go into ``words_at`` (word -> where)."""
    stack: list[tuple[Any, str, bool, bool]] = [(value, where, names, False)]
    while stack:
        item, path, check_names, header = stack.pop()
        if isinstance(item, str):
            found = shape_problem(item, header=header)
            if found:
                yield f"{path}: {found}; {ADVICE}"
            if words_at is not None:
                for word in _long_words(item):
                    words_at.setdefault(word, (path, "this value"))
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                key_s = str(key)
                if shape_problem(key_s):
                    yield f"{path or 'value'}: one of its keys looks like a credential; {ADVICE}"
                    continue
                if words_at is not None:
                    for word in _long_words(key_s):
                        words_at.setdefault(word, (path or "value", "one of its keys"))
                at = _join(path, key_s)
                if check_names and credential_name(key_s) and _can_hold_secret(
                        child, bool(set(words(key_s)) & _PASSWORDISH)):
                    yield f"{at}: {ADVICE}"
                    continue
                lower = key_s.lower()
                children.append((child, at, check_names and lower not in _DATA_KEYS,
                                 header or lower.endswith("headers")))
            stack.extend(reversed(children))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed([(c, f"{path}[{i}]", check_names, header) for i, c in enumerate(item)]))


def find_secret(value: Any, where: str = "", *, names: bool = True, library: bool = True) -> str | None:
    """The message for the first credential in ``value`` (see the module docstring), or None."""
    words_at: dict[str, tuple[str, str]] | None = {} if library else None
    found = next(_problems(value, where, names, words_at), None)
    if found is None and words_at:
        found = _library_problem(words_at)
        if found is not None:
            found = f"{found}; {ADVICE}"
    return found


def refuse_secrets(value: Any, where: str, *, names: bool = True, library: bool = True) -> None:
    """Raise SecretRefused naming where ``value`` holds a credential. ``names=False``: shapes only
    (free text, prompt tools and schemas, dataset cases). ``library=False``: without detect-secrets'
    plugins (and their import), for a re-check at call time of params that were checked when stored."""
    found = find_secret(value, where, names=names, library=library)
    if found is not None:
        raise SecretRefused(found)
