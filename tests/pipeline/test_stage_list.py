"""The build's stage list: the order the README shows, and how a GPU splits the task chain."""
from __future__ import annotations

import re
from pathlib import Path

from pipeline.executor import one_chain
from pipeline.stage import Resources
from pipeline.stage_list import build_stages


def test_the_readme_shows_the_stage_list_as_the_code_builds_it(sample_config, tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = re.search(r"```\n(licence -> .*?)\n```", readme, re.DOTALL).group(1)
    names = [name.strip("[] ") for name in re.split(r"->|\n", shown.split("-> parts")[0]) if name.strip()]
    assert names == [stage.name for stage in build_stages(sample_config(tmp_path))]


def test_without_gpus_every_stage_joins_one_task_chain_and_with_them_the_detector_is_a_pool(sample_config, tmp_path):
    """Every stage a task of the same resources makes one chain (pipeline.executor): on a CPU-only cluster a block
    goes from decode to its parts in one task; a GPU splits the chain at the detector's actor pool."""
    cfg = sample_config(tmp_path)
    assert {stage.resources for stage in build_stages(cfg, gpus=0)} == {Resources()}
    assert Resources().actors == 0 and Resources().memory > 0
    on_gpus = build_stages(cfg, gpus=2)
    [detect] = [stage for stage in on_gpus if stage.name == "detect"]
    assert detect.resources == Resources(gpus=1.0, actors=1)  # the config's one actor, a whole GPU
    assert {stage.resources for stage in on_gpus if stage is not detect} == {Resources()}
    assert one_chain(build_stages(cfg, gpus=0)) and not one_chain(on_gpus)
