"""Secret redaction: keys, argv flags, credential shapes, free text."""

from __future__ import annotations

import pytest

from orchestrator.store.redact import REDACTED, Redactor, find_secrets, is_secret_key

HF = "hf_abcDEF1234567890xyzUVW"
SK = "sk-proj0123456789abcdefXYZ"


@pytest.mark.parametrize(
    "key",
    ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "--api-key", "api_key", "apiKey", "OPENAI_API_KEY", "db.password",
     "--hf-token", "AWS_SECRET_ACCESS_KEY", "token", "Authorization"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["max_tokens", "max_batch_total_tokens", "tokenizer", "TOKENIZERS_PARALLELISM", "keep_server", "tp",
     "engine.extra_args", "output_len", "--max-num-batched-tokens", "monkey"],
)  # fmt: skip
def test_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_config_values_args_and_env_are_redacted() -> None:
    cfg = {
        "engine": {
            "env": {"HF_TOKEN": HF, "MY_PASSWORD": "hunter2hunter2", "OMP_NUM_THREADS": "4"},
            "extra_args": ["--api-key", SK, "--max-num-seqs", "8", "--token=tok-secret-value", "--eager"],
            "pad_token_id": 0,
        },
        "tracking": {"uri": "http://alice:s3cretpw@mlflow.internal:5000"},
    }
    r = Redactor.for_config(cfg)
    out = r.obj(cfg)
    assert out["engine"]["env"] == {"HF_TOKEN": REDACTED, "MY_PASSWORD": REDACTED, "OMP_NUM_THREADS": "4"}
    assert out["engine"]["extra_args"] == [
        "--api-key", REDACTED, "--max-num-seqs", "8", f"--token={REDACTED}", "--eager",
    ]  # fmt: skip
    assert out["engine"]["pad_token_id"] == 0, "numbers under a secret-looking key are kept"
    assert out["tracking"]["uri"] == f"http://{REDACTED}@mlflow.internal:5000"
    assert cfg["engine"]["env"]["HF_TOKEN"] == HF, "the input is not modified"
    # The same values are scrubbed from free text (logs, commands, messages).
    log = f"non-default args: {{'api_key': ['{SK}']}} env HF_TOKEN={HF} pw hunter2hunter2 tok-secret-value"
    clean = r.text(log)
    for secret in (SK, HF, "hunter2hunter2", "tok-secret-value"):
        assert secret not in clean
    assert "non-default args" in clean


def test_credential_shapes_are_redacted_without_a_key() -> None:
    r = Redactor()
    text = f"token {HF} key {SK} ghp_0123456789abcdefghijABCD Authorization: Bearer abc.def.ghi123"
    clean = r.text(text)
    assert HF not in clean and SK not in clean and "ghp_0123456789" not in clean and "abc.def" not in clean
    assert r.text("hf_transfer enabled; max_tokens=32") == "hf_transfer enabled; max_tokens=32"


def test_env_secrets_are_found_and_short_values_ignored() -> None:
    found = find_secrets({"a": ["--api-key", "x"]}, env={"GITHUB_TOKEN": "ghtok-1234567", "PATH": "/usr/bin"})
    assert found == frozenset({"ghtok-1234567"})
