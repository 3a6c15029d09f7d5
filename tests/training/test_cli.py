"""The CPU acceptance test: `medregion train` and `medregion eval` on the shards of a real sample build."""
import json

import torch
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from training.config import to_dict
from training.data import ShardDataset, shard_files
from training.loss import clip_losses
from training.tokenizer import load_tokenizer
from training.train import Checkpoints, build_model, seed_everything

STAGES = [
    {"name": "global", "steps": 10, "lr": 1e-3},
    {"name": "region", "steps": 2, "lr": 1e-3, "region_weight": 1.0, "freeze_fraction": 0.5},
    {"name": "joint", "steps": 2, "lr": 5e-4, "region_weight": 1.0},
]


def write_config(path, run, shards, tiny_config):
    cfg = tiny_config(run, shards, stages=STAGES, log={"every": 1, "checkpoint_every": 100})
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return cfg


def step_losses(run):
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def fixed_batch_losses(model, batch):
    with torch.no_grad():
        return clip_losses(model.eval()(batch, with_regions=True, with_negatives=False), batch, 1.0)


def test_train_resume_and_eval_on_a_real_build(sample_build, tiny_config, tmp_path):
    runner = CliRunner()
    cfg = write_config(tmp_path / "straight.yaml", tmp_path / "straight", sample_build, tiny_config)
    write_config(tmp_path / "resumed.yaml", tmp_path / "resumed", sample_build, tiny_config)

    done = runner.invoke(app, ["train", str(tmp_path / "straight.yaml")])
    assert done.exit_code == 0, done.output
    assert "[joint] step 14 (2/2)" in done.output

    # the loss on a fixed batch of training images goes down
    tokenizer = load_tokenizer(tmp_path / "straight" / "tokenizer")
    batch = next(iter(ShardDataset(shard_files([str(sample_build)]), "train", cfg.data, tokenizer, train=False)))
    assert len(batch.region_boxes) > 0  # the build gives boxes with texts
    seed_everything(cfg.seed)
    model = build_model(cfg, len(tokenizer))  # the initial weights of the run
    before = fixed_batch_losses(model, batch)
    model.load_state_dict(Checkpoints(tmp_path / "straight", 1).newest_readable()[1]["model"])
    after = fixed_batch_losses(model, batch)
    assert after.global_ < before.global_ - 0.05, (before, after)
    assert torch.isfinite(after.region) and after.region > 0

    # interrupted after step 11 and resumed: the next steps' losses are the uninterrupted run's
    assert runner.invoke(app, ["train", str(tmp_path / "resumed.yaml"), "--max-steps", "11"]).exit_code == 0
    resumed = runner.invoke(app, ["train", str(tmp_path / "resumed.yaml")])
    assert "resuming from" in resumed.output and "step-000011.pt" in resumed.output
    assert step_losses(tmp_path / "resumed") == step_losses(tmp_path / "straight")

    evaluated = runner.invoke(app, ["eval", str(tmp_path / "straight"), "--split", "train"])
    assert evaluated.exit_code == 0, evaluated.output
    for name in ("image_to_text_R@1", "text_to_image_R@10", "region_to_text_R@5", "zeroshot_image_auc"):
        assert name in evaluated.output
    metrics = json.loads((tmp_path / "straight" / "eval_train.json").read_text())
    evaluated_rows = ShardDataset(shard_files([str(sample_build)]), "train", cfg.data, tokenizer, train=False).rows
    assert metrics["images"] == len(evaluated_rows)
    assert 0.0 <= metrics["region_to_text_R@1"] <= metrics["region_to_text_R@5"] <= 1.0


def test_bad_steps_a_missing_split_and_a_folder_without_checkpoints_are_error_lines(sample_build, tiny_config,
                                                                                    tmp_path):
    config = tmp_path / "train.yaml"
    write_config(config, tmp_path / "run", sample_build, tiny_config)
    runner = CliRunner()
    outcome = runner.invoke(app, ["train", str(config), "--max-steps", "0"])
    assert outcome.exit_code == 2 and "--max-steps must be at least 1" in outcome.output
    assert not (tmp_path / "run").exists()
    outcome = runner.invoke(app, ["eval", str(sample_build)])  # a build folder, not a run folder
    assert outcome.exit_code == 2 and "no readable checkpoint" in " ".join(outcome.output.split()), outcome.output
    data = yaml.safe_load(config.read_text())
    data["data"]["train_split"] = "trian"
    config.write_text(yaml.safe_dump(data))
    outcome = runner.invoke(app, ["train", str(config), "--max-steps", "1"])
    assert outcome.exit_code == 2 and "split 'trian' has 0 rows" in outcome.output, outcome.output
