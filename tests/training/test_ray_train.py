import json

import pytest

from training.ray_train import train_with_ray

STAGES = [
    {"name": "global", "steps": 1, "lr": 1e-3},
    {"name": "region", "steps": 1, "lr": 1e-3, "region_weight": 1.0, "freeze_fraction": 0.5},
    {"name": "joint", "steps": 1, "lr": 1e-3, "region_weight": 1.0},
]


@pytest.mark.slow
def test_ray_train_runs_the_stages_on_two_workers(ray_cluster, synthetic_corpus, tiny_config, tmp_path):
    cfg = tiny_config(tmp_path / "run", synthetic_corpus, stages=STAGES)
    result = train_with_ray(cfg, num_workers=2, use_gpu=False)
    assert result.error is None
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["stage"], r["world_size"]) for r in records] == [
        (1, "global", 2), (2, "region", 2), (3, "joint", 2)
    ]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-000002.pt", "step-000003.pt"]
