"""The launcher's output: ``tracing`` lines (compact, or JSON with ``--json-output``), its ``Args``
Debug dump, the children's lines relayed, and ``main``'s ``Err`` as Rust prints it."""

from __future__ import annotations

import datetime as _dt
import json
import sys
import threading
from typing import Any

from engines.standins.tgi.launcher_args import OPTS

_JSON = False  # --json-output: tracing's JSON lines (set_json)
_LOCK = threading.Lock()


def set_json(on: bool) -> None:
    global _JSON
    _JSON = on


def log(level: str, message: str, *, span: str | None = None, **fields: Any) -> None:
    ts = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with _LOCK:
        if _JSON:
            obj: dict[str, Any] = {
                "timestamp": ts,
                "level": level,
                "fields": {"message": message},
                "target": "text_generation_launcher",
            }
            if span:
                obj["span"] = {"name": span, **fields}
            sys.stdout.write(json.dumps(obj) + "\n")
        else:
            where = f"{span}: " if span else ""
            extra = "".join(f" {k}={v}" for k, v in fields.items())
            sys.stdout.write(f"{ts} {level:>5} {where}text_generation_launcher: {message}{extra}\n")
        sys.stdout.flush()


def _rust(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_rust(v) for v in value) + "]"
    return str(value)


def args_debug(a: dict[str, Any]) -> str:
    """``tracing::info!("{:#?}", args)``: Option fields as Some(..)/None, enums as variant names."""
    lines = ["Args {"]
    for opt in OPTS:
        if opt.name not in a:
            continue
        value = a[opt.name]
        if opt.name == "api_key" and value is not None:
            value = "<redacted>"
        optional = opt.default is None and opt.kind not in ("switch", "list")
        if opt.kind == "enum" and value is not None:
            text = "".join(part.capitalize() for part in value.replace("_", "-").split("-"))
        else:
            text = _rust(value)
        if optional and value is not None:
            text = f"Some({text})"
        lines.append(f"    {opt.name}: {text},")
    return "\n".join([*lines, "}"])


class LauncherError(Exception):
    """Printed as Rust prints ``main``'s ``Err`` (Debug): ``Error: ShardCannotStart``."""

    def __init__(self, variant: str, detail: str | None = None) -> None:
        super().__init__(variant)
        self.variant = variant
        self.detail = detail

    def debug(self) -> str:
        return f"{self.variant}({json.dumps(self.detail)})" if self.detail is not None else self.variant


def println(line: str) -> None:
    with _LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
