"""Secret redaction (pure): nothing that looks like a token or key reaches MLflow or the results dir.

A value is secret when its key names a secret (a word TOKEN, SECRET, KEY, PASSWORD, ... in an env var,
param or ``--flag``; ``max_tokens`` is not a secret, ``HF_TOKEN`` and ``--api-key`` are) or when it looks
like a known credential (``hf_...``, ``sk-...``, ``ghp_...``, ``AKIA...``, ``Bearer ...``, a URL's
``user:password@``). Secret values found in a config are also replaced wherever they appear in text
(engine logs, commands, messages).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"

SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "key",
        "apikey",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
    }
)
# Credential shapes, matched anywhere in text whatever their key.
VALUE_PATTERNS = (
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),
)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_PLAIN_SCALAR = re.compile(r"(?i)^([-+]?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|none|null|)$")
MIN_SECRET_LEN = 6  # shorter values are not substituted in free text (too many false hits)


def is_secret_key(key: str) -> bool:
    """True when a word of ``key`` names a secret: ``HF_TOKEN``, ``--api-key``, ``apiKey``, ``db.pwd``."""
    words = [w.lower() for w in _WORD_SPLIT.split(key.lstrip("-")) if w]
    return any(w in SECRET_WORDS for w in words) or "apikey" in "".join(words)


def _is_secret_value(value: object) -> bool:
    """Values under a secret key: strings that are not plain numbers or booleans."""
    return isinstance(value, str) and not _PLAIN_SCALAR.match(value.strip())


def _argv_pairs(argv: list[Any]) -> Iterable[tuple[str, Any, int]]:
    """(flag, value, index of value) for ``--flag value`` and ``--flag=value`` items of a list."""
    for i, item in enumerate(argv):
        if not isinstance(item, str) or not item.startswith("-"):
            continue
        if "=" in item:
            flag, _, value = item.partition("=")
            yield flag, value, i
        elif i + 1 < len(argv) and not (isinstance(argv[i + 1], str) and argv[i + 1].startswith("--")):
            yield item, argv[i + 1], i + 1


def find_secrets(obj: Any, env: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every secret value in a nested config (and in ``env``), to be scrubbed from free text too."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if is_secret_key(str(k)) and _is_secret_value(v):
                    found.add(str(v))
                walk(v)
        elif isinstance(node, list | tuple):
            for flag, value, _ in _argv_pairs(list(node)):
                if is_secret_key(flag) and _is_secret_value(value):
                    found.add(str(value))
            for item in node:
                walk(item)
        elif isinstance(node, str):
            for pattern in VALUE_PATTERNS:
                found.update(m.group(0) for m in pattern.finditer(node))

    walk(obj)
    for k, v in (env or {}).items():
        if is_secret_key(k) and _is_secret_value(v):
            found.add(v)
    return frozenset(s for s in found if len(s) >= MIN_SECRET_LEN)


@dataclass(frozen=True)
class Redactor:
    """Scrubs known secret values and credential shapes from text and nested objects."""

    secrets: frozenset[str] = frozenset()

    @classmethod
    def for_config(cls, *configs: Any, env: Mapping[str, str] | None = None) -> Redactor:
        values: set[str] = set()
        for cfg in configs:
            values |= find_secrets(cfg)
        return cls(frozenset(values | find_secrets({}, env)))

    def text(self, text: str) -> str:
        # Longest first, so a secret containing another is replaced whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        for pattern in VALUE_PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text

    def obj(self, node: Any) -> Any:
        """A redacted deep copy: secret keys' values, ``--secret-flag value`` items, secrets in strings."""
        if isinstance(node, Mapping):
            return {
                k: REDACTED if is_secret_key(str(k)) and _is_secret_value(v) else self.obj(v)
                for k, v in node.items()
            }
        if isinstance(node, list | tuple):
            items = list(node)
            hidden = {i for flag, v, i in _argv_pairs(items) if is_secret_key(flag) and _is_secret_value(v)}
            out = []
            for i, item in enumerate(items):
                if i not in hidden:
                    out.append(self.obj(item))
                elif isinstance(item, str) and item.startswith("-") and "=" in item:
                    out.append(f"{item.partition('=')[0]}={REDACTED}")
                else:
                    out.append(REDACTED)
            return out if isinstance(node, list) else tuple(out)
        if isinstance(node, str):
            return self.text(node)
        return node
