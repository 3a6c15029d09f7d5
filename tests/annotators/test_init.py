"""annotators/__init__.py: spaCy without torch in a process that has not loaded it, torch still there for others."""
from __future__ import annotations

import json
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


def test_the_report_parser_loads_without_torch_and_torch_stays_importable():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"without": True, "thinc_torch": False, "torch": 3.0}
