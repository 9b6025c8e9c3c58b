"""Request parsing and validation: serde's ``GenerateRequest`` (unknown fields ignored, its error
texts) and ``router/src/validation.rs``'s checks (TGI v3.3.7)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from engines.standins.tgi.router_metrics import Metrics

DEFAULT_GENERATION_LENGTH = 1024


class DeserializeError(Exception):
    pass


class ValidationError(Exception):
    pass


PARAM_TYPES: dict[str, tuple[str, bool]] = {  # field → (serde type, Option<..>)
    "best_of": ("usize", True),
    "temperature": ("f32", True),
    "repetition_penalty": ("f32", True),
    "frequency_penalty": ("f32", True),
    "top_k": ("i32", True),
    "top_p": ("f32", True),
    "typical_p": ("f32", True),
    "do_sample": ("bool", False),
    "max_new_tokens": ("u32", True),
    "return_full_text": ("bool", True),
    "stop": ("vec_string", False),
    "truncate": ("usize", True),
    "watermark": ("bool", False),
    "details": ("bool", False),
    "decoder_input_details": ("bool", False),
    "seed": ("u64", True),
    "top_n_tokens": ("u32", True),
    "grammar": ("any", True),
    "adapter_id": ("string", True),
}
INT_RANGE = {
    "usize": (0, 2**64 - 1),
    "u64": (0, 2**64 - 1),
    "u32": (0, 2**32 - 1),
    "i32": (-(2**31), 2**31 - 1),
}


def _serde_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean `{str(v).lower()}`"
    if isinstance(v, int):
        return f"integer `{v}`"
    if isinstance(v, float):
        return f"floating point `{v}`"
    if isinstance(v, str):
        return f"string {json.dumps(v)}"
    if isinstance(v, list):
        return "sequence"
    return "map"


def _check_type(path: str, value: Any, kind: str, optional: bool) -> None:
    if value is None:
        if optional or kind == "any":
            return
        expected = {"bool": "a boolean", "vec_string": "a sequence"}.get(kind, kind)
        raise DeserializeError(f"{path}: invalid type: null, expected {expected}")
    expected = {"bool": "a boolean", "vec_string": "a sequence", "string": "a string"}.get(kind, kind)
    if kind == "any":
        return
    if kind == "bool" and not isinstance(value, bool):
        raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected {expected}")
    if kind == "string" and not isinstance(value, str):
        raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected {expected}")
    if kind == "f32" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected f32")
    if kind in INT_RANGE:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected {kind}")
        lo, hi = INT_RANGE[kind]
        if not lo <= value <= hi:
            raise DeserializeError(f"{path}: invalid value: integer `{value}`, expected {kind}")
    if kind == "vec_string":
        if not isinstance(value, list):
            raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected a sequence")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise DeserializeError(f"{path}[{i}]: invalid type: {_serde_kind(item)}, expected a string")


def deserialize_request(body: Any, *, compat: bool = False) -> dict[str, Any]:
    """GenerateRequest: ``inputs`` required, ``parameters`` default, unknown fields ignored."""
    if not isinstance(body, dict):
        raise DeserializeError(f"invalid type: {_serde_kind(body)}, expected struct GenerateRequest")
    if "inputs" not in body:
        raise DeserializeError("missing field `inputs`")
    if not isinstance(body["inputs"], str):
        raise DeserializeError(f"inputs: invalid type: {_serde_kind(body['inputs'])}, expected a string")
    if "parameters" in body and body["parameters"] is not None:
        params = body["parameters"]
        if not isinstance(params, dict):
            raise DeserializeError(
                f"parameters: invalid type: {_serde_kind(params)}, expected struct GenerateParameters"
            )
        given = dict(params)
        defaults: dict[str, Any] = {"do_sample": False}
    elif "parameters" in body:
        raise DeserializeError("parameters: invalid type: null, expected struct GenerateParameters")
    else:
        given, defaults = {}, {"do_sample": True}  # default_parameters(): do_sample true
    for name, (kind, optional) in PARAM_TYPES.items():
        if name in given:
            _check_type(f"parameters.{name}", given[name], kind, optional)
    p: dict[str, Any] = dict.fromkeys(PARAM_TYPES)
    p.update(stop=[], do_sample=False, watermark=False, details=False, decoder_input_details=False)
    p.update(defaults)
    p.update({k: v for k, v in given.items() if k in PARAM_TYPES})
    out = {"inputs": body["inputs"], "parameters": p}
    if compat:
        stream = body.get("stream", False)
        _check_type("stream", stream, "bool", False)
        out["stream"] = stream
    return out


@dataclass
class Valid:
    inputs: str
    input_ids: list[int]
    input_length: int
    max_new_tokens: int
    sampling: bool
    seed: int
    stop: list[str]
    details: bool
    decoder_input_details: bool
    return_full_text: bool
    best_of: int
    top_n_tokens: int


def validate(
    req: dict[str, Any], args: Any, tokenizer: Any, max_input: int, max_total: int, metrics: Metrics
) -> Valid:
    """``Validation::validate``: a deserialized request checked against the router's limits."""
    p = req["parameters"]
    best_of = p["best_of"] if p["best_of"] is not None else 1
    sampling = bool(
        p["do_sample"]
        or p["temperature"] is not None
        or p["top_k"] is not None
        or p["top_p"] is not None
        or p["typical_p"] is not None
    )
    if best_of > 1 and not sampling:
        raise ValidationError("you must use sampling when `best_of` is > 1")
    if (p["temperature"] if p["temperature"] is not None else 1.0) <= 0.0:
        raise ValidationError("`temperature` must be strictly positive")
    if (p["repetition_penalty"] if p["repetition_penalty"] is not None else 1.0) <= 0.0:
        raise ValidationError("`repetition_penalty` must be strictly positive")
    fp = p["frequency_penalty"] if p["frequency_penalty"] is not None else 0.0
    if not -2.0 <= fp <= 2.0:
        raise ValidationError("`frequency_penalty` must be >= -2.0 and <= 2.0")
    if p["top_p"] is not None and not 0.0 < p["top_p"] < 1.0:
        raise ValidationError("`top_p` must be > 0.0 and < 1.0")
    if p["typical_p"] is not None and not 0.0 < p["typical_p"] < 1.0:
        raise ValidationError("`typical_p` must be > 0.0 and < 1.0")
    if p["top_k"] is not None and p["top_k"] <= 0:
        raise ValidationError("`top_k` must be strictly positive")
    if p["max_new_tokens"] == 0:
        raise ValidationError("`max_new_tokens` must be strictly positive")
    if len(p["stop"]) > args.max_stop_sequences:
        raise ValidationError(
            f"`stop` supports up to {args.max_stop_sequences} stop sequences. Given: {len(p['stop'])}"
        )
    if p["seed"] is None:
        seed = random.getrandbits(64)
    else:
        if best_of > 1:
            raise ValidationError("`seed` must not be set when `best_of` > 1")
        seed = p["seed"]
    top_n = p["top_n_tokens"] or 0
    if top_n > args.max_top_n_tokens:
        raise ValidationError(f"`top_n_tokens` must be >= 0 and <= {args.max_top_n_tokens}. Given: {top_n}")
    if req["inputs"] == "":
        raise ValidationError("`inputs` cannot be empty")
    truncate = p["truncate"]
    if truncate is not None and (truncate == 0 or truncate > max_input):
        raise ValidationError(
            f"`truncate` must be strictly positive and less than {max_input}. Given: {truncate}"
        )
    ids = list(tokenizer.encode(req["inputs"], add_special_tokens=True).ids)
    input_length = min(len(ids), truncate) if truncate is not None else len(ids)
    if p["max_new_tokens"] is not None:
        chunk = min(p["max_new_tokens"], DEFAULT_GENERATION_LENGTH)
        total_new = p["max_new_tokens"]
    else:
        total_new = max(max_total - input_length, 0)
        chunk = min(total_new, DEFAULT_GENERATION_LENGTH)
    if input_length + chunk > max_total:
        raise ValidationError(
            f"`inputs` tokens + `max_new_tokens` must be <= {max_total}. Given: "
            f"{input_length} `inputs` tokens and {chunk} `max_new_tokens`"
        )
    if input_length > max_input:
        raise ValidationError(f"`inputs` must have less than {max_input} tokens. Given: {input_length}")
    if p["grammar"] is not None and args.disable_grammar_support:
        raise ValidationError("grammar is not supported")
    metrics.histogram("tgi_request_input_length", input_length)
    metrics.histogram("tgi_request_max_new_tokens", total_new)
    return Valid(
        inputs=req["inputs"],
        input_ids=ids[len(ids) - input_length :],
        input_length=input_length,
        max_new_tokens=total_new,
        sampling=sampling,
        seed=seed,
        stop=list(p["stop"]),
        details=bool(p["details"]),
        decoder_input_details=bool(p["decoder_input_details"]),
        return_full_text=bool(p["return_full_text"]),
        best_of=best_of,
        top_n_tokens=top_n,
    )


def validate_best_of(args: Any, best_of: int) -> None:
    if best_of == 0 or best_of > args.max_best_of:
        raise ValidationError(f"`best_of` must be > 0 and <= {args.max_best_of}. Given: {best_of}")
