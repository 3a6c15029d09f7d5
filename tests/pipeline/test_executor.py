"""pipeline.executor: what a worker process loads to carry a block through the stage chain."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from pipeline.build import collect_inputs
from pipeline.shards import BuildLayout
from pipeline.stage_list import build_stages
from pipeline.stages.decode import work_items

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import json, pickle, sys
from pipeline.executor import run_chain
block, stages, layout = pickle.loads(open(sys.argv[1], "rb").read())
summary = run_chain(block, stages, layout)
loaded = sorted(m for m in ("datasets", "torch", "ultralytics") if m in sys.modules)
print(json.dumps({"rows": sum(summary.column("rows").to_pylist()), "loaded": loaded}))
"""


def test_a_worker_runs_the_chain_without_torch_ultralytics_or_datasets(sample_config, tmp_path):
    """A fresh process given a block and the driver's stages (as a Ray task is) writes its parts without importing
    torch (the detector runs its cached ONNX export, spaCy's thinc goes without), ultralytics, or datasets (the
    encode stage brings the driver's schemas): 2 to 3 s of CPU each build worker no longer spends starting."""
    cfg = sample_config(tmp_path / "out")
    inputs = collect_inputs(cfg)
    block = work_items(list(inputs.refs[:8]), list(inputs.shards[:8]))
    task = tmp_path / "task.pickle"
    task.write_bytes(pickle.dumps((block, build_stages(cfg), BuildLayout(cfg.output))))
    done = subprocess.run([sys.executable, "-c", WORKER, str(task)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"rows": block.num_rows, "loaded": []}
    assert list((tmp_path / "out").rglob("*.arrow"))  # the parts
