"""Keep secrets out of everything that is written down (database, exports, logs).

The config model holds no key by design; this is the second lock on the door. It removes
values stored under secret-looking keys (an `environment` or `extra_body` that a caller
filled carelessly) and the password of a URL such as `http://user:pass@host`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"

# Whole words only: `token_source` and `output_tokens` are figures, `hf_token` is a secret.
_SECRET_KEY = re.compile(
    r"(^|[_\-.])(api[_\-]?key|apikey|authorization|auth|secret|secrets|password|passwd|"
    r"credentials?|bearer|token|access[_\-]?token|private[_\-]?key|cookie)$",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact(value: Any) -> Any:
    """A copy of a JSON-like value without secrets."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v is not None else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        return redact_url(value)
    return value


def redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]  # verbatim: keeps an IPv6 host's brackets
    netloc = f"{parts.username}:{REDACTED}@{host}" if parts.username else f"{REDACTED}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def without_userinfo(url: str) -> str:
    """`http://user:<redacted>@host/x` -> `http://host/x`: the form RunConfig accepts."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))
