"""pipeline.executor: what a worker process loads to carry a block through the stage chain, and the blocks it is
given."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.build import collect_inputs
from pipeline.executor import TAIL_PIECES, WORKER_MODULES, tapered_blocks
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
import pipeline.dedup  # the dedup steps' tasks
print(json.dumps({"rows": sum(summary.column("rows").to_pylist()), "loaded": loaded, "modules": sorted(sys.modules)}))
"""
PRELOAD = """
import importlib, json, sys
import ray  # a Ray worker's own
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_a_worker_runs_the_chain_without_torch_ultralytics_or_datasets(sample_config, tmp_path):
    """A fresh process given a block and the driver's stages (as a Ray task is) writes its parts without importing
    torch (the detector runs its cached ONNX export, spaCy's thinc goes without), ultralytics, or datasets (the
    encode stage brings the driver's schemas): 2 to 3 s of CPU each build worker no longer spends starting. And the
    modules that a build's workers preload as they start bring no package that running the chain would not."""
    cfg = sample_config(tmp_path / "out")
    inputs = collect_inputs(cfg)
    block = work_items(list(inputs.refs[:8]), list(inputs.shards[:8]))
    task = tmp_path / "task.pickle"
    task.write_bytes(pickle.dumps((block, build_stages(cfg), BuildLayout(cfg.output))))
    done = subprocess.run([sys.executable, "-c", WORKER, str(task)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: report[k] for k in ("rows", "loaded")} == {"rows": block.num_rows, "loaded": []}
    assert list((tmp_path / "out").rglob("*.arrow"))  # the parts

    preloaded = subprocess.run([sys.executable, "-c", PRELOAD, *WORKER_MODULES], cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    assert preloaded.returncode == 0, preloaded.stderr
    beyond = set(json.loads(preloaded.stdout.strip().splitlines()[-1])) - set(report["modules"])
    # what a build's workers preload (pipeline.executor.WORKER_MODULES): no package that the chain would not load
    assert {name.split(".")[0] for name in beyond} <= {"pipeline"}, sorted(beyond)


@pytest.mark.parametrize("rows,per_block,cpus",
                         [(1014, 64, 2), (130, 64, 2), (10, 3, 2), (5, 5, 4), (1, 1, 2), (0, 1, 2)])
def test_the_last_block_of_each_cpu_is_cut_into_pieces_and_no_item_is_lost_or_moved(rows, per_block, cpus):
    items = pa.table({"item": list(range(rows))})
    sizes = [block.num_rows for block in tapered_blocks(items, per_block, cpus)]
    assert [v for block in tapered_blocks(items, per_block, cpus) for v in block.column("item").to_pylist()] == \
        list(range(rows))
    whole = -(-rows // per_block)  # blocks of per_block rows
    head = max(0, whole - cpus)
    assert sizes[:head] == [per_block] * head
    piece = -(-per_block // TAIL_PIECES)
    assert all(0 < size <= piece for size in sizes[head:])
    assert len(sizes) - head == -(-(rows - head * per_block) // piece)
