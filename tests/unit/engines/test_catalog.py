"""engines/catalog.py: one line gives an engine its registry entry and its ``engine.<name>`` group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from engines import catalog
from engines.flexgen.config import FlexGenConfig
from engines.tgi.config import TGIConfig
from orchestrator.config.schema import ENGINE_SECTIONS, EngineConfig

ROOT = Path(__file__).resolve().parents[3]

TOY_CONFIG = """
from dataclasses import dataclass

@dataclass
class ToyOptions:
    level: int = 1
    mode: str = "plain"
"""

TOY_ENGINE = """
from engines.base import BatchDefaults
from engines.registry import register

class ToyEngine(BatchDefaults):
    name = "toy"

register(ToyEngine.name, ToyEngine)
"""

# the catalog line is added before anything imports the config schema, as a line in the file is
CHECK = """
import dataclasses, json
from engines import catalog
from toy_engine.config import ToyOptions
catalog.ENGINES += (catalog.EngineEntry("toy", "toy_engine.engine", ToyOptions),)

from engines.registry import get_engine
from orchestrator.config.schema import ENGINE_SECTIONS, EngineConfig
from orchestrator.config.store import load_experiment
from orchestrator.core.errors import ConfigError
from orchestrator.core.trial import engine_instance

cfg = load_experiment(["engine.name=toy", "engine.toy.level=3", "engine.tp=[1]"])
try:
    load_experiment(["engine.name=toy", "+engine.toy.nope=1"])
    refused = None
except ConfigError as exc:
    refused = [exc.field, list(exc.allowed)]
vllm = load_experiment([])
print(json.dumps({
    "sections": list(ENGINE_SECTIONS),
    "fields": [f.name for f in dataclasses.fields(EngineConfig)][-4:],
    "toy": dataclasses.asdict(cfg.engine.toy),
    "options": catalog.options(cfg.engine, ToyOptions).level,
    "engine": get_engine("toy").name,
    "refused": refused,
    "toy_instance": sorted(engine_instance(cfg.engine, cfg.model, 1)["engine"]),
    "vllm_instance": sorted(engine_instance(vllm.engine, vllm.model, 1)["engine"]),
}))
"""


def test_the_shipped_engines_option_groups_come_from_the_catalog():
    assert catalog.option_groups() == {"tgi": TGIConfig, "flexgen": FlexGenConfig}
    assert ENGINE_SECTIONS == ("tgi", "flexgen")
    names = [f.name for f in EngineConfig.__dataclass_fields__.values()]
    assert names[-3:] == ["tgi", "flexgen", "sweep"]  # where the fields were: key order unchanged
    cfg = EngineConfig()
    assert catalog.options(cfg, TGIConfig) is cfg.tgi  # type: ignore[attr-defined]
    assert EngineConfig.__module__ == "orchestrator.config.schema"  # pickles by name (Ray)
    assert EngineConfig.__qualname__ == "EngineConfig"


def test_a_new_engine_gets_its_option_group_from_its_catalog_line(tmp_path):
    package = tmp_path / "toy_engine"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text(TOY_CONFIG)
    (package / "engine.py").write_text(TOY_ENGINE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECK)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["sections"] == ["tgi", "flexgen", "toy"]
    assert out["fields"] == ["tgi", "flexgen", "toy", "sweep"]
    assert out["toy"] == {"level": 3, "mode": "plain"}
    assert out["options"] == 3
    assert out["engine"] == "toy"
    assert out["refused"] == ["engine.toy.nope", ["level", "mode"]]
    assert "toy" in out["toy_instance"] and "tgi" not in out["toy_instance"]
    assert "toy" not in out["vllm_instance"]
