"""annotators/__init__.py: spaCy without torch in a process that has not loaded it, torch still there for others."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from annotators.report_nlp import build_nlp
doc = build_nlp()("Small left pleural effusion. No pneumothorax.")
without = "torch" not in sys.modules and len(doc) > 0
import thinc.compat, torch
print(json.dumps({"without": without, "thinc_torch": thinc.compat.has_torch, "torch": float(torch.ones(3).sum())}))
"""


def probe(env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_report_parser_loads_without_torch_and_torch_stays_importable():
    assert probe() == {"without": True, "thinc_torch": False, "torch": 3.0}


def test_with_a_torch_based_spacy_plugin_installed_thinc_gets_torch(tmp_path):
    """spacy-transformers' pipelines run on thinc's torch layers: where it is installed, torch is not held back."""
    (tmp_path / "spacy_transformers").mkdir()
    (tmp_path / "spacy_transformers" / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    assert probe(env) == {"without": False, "thinc_torch": True, "torch": 3.0}
