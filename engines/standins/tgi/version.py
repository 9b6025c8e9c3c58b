"""The TGI version the stand-in plays (``TGI_STANDIN_VERSION``, default 3.3.7): launcher and router."""

from __future__ import annotations

import os


def standin_version() -> str:
    return os.environ.get("TGI_STANDIN_VERSION", "3.3.7")


def version_tuple(v: str) -> tuple[int, ...]:
    """``3.3.7`` → (3, 3, 7); a pre-release suffix is dropped, a part that is not a number is 0."""
    out = []
    for part in v.split("-")[0].split("."):
        try:
            out.append(int(part))
        except ValueError:
            out.append(0)
    return tuple(out)
