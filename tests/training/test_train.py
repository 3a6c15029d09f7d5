import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training.config import Config, ConfigError, to_dict
from training.train import TENSORBOARD_SCALARS, Checkpoints, choose_attention_kernels, train

ROOT = Path(__file__).resolve().parents[2]


def losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def tensorboard_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run's TensorBoard event files, read back by TensorBoard's loader: tag -> (step, value)."""
    events = EventAccumulator(str(run))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_resumed_run_takes_the_same_steps_as_an_uninterrupted_one(synthetic_corpus, tiny_config, tmp_path):
    stages = [
        {"name": "global", "steps": 2, "lr": 2e-3},
        {"name": "region", "steps": 2, "lr": 2e-3, "region_weight": 1.0, "freeze_fraction": 0.5},
        {"name": "joint", "steps": 1, "lr": 1e-3, "region_weight": 1.0},
    ]
    changes = {"optim": {"grad_accum": 2}, "stages": stages}
    train(tiny_config(tmp_path / "straight", synthetic_corpus, **changes))
    interrupted = tiny_config(tmp_path / "interrupted", synthetic_corpus, **changes)
    train(interrupted, max_steps=3)  # stops inside stage 2, with a checkpoint
    assert len(losses(tmp_path / "interrupted")) == 3
    train(interrupted)
    assert losses(tmp_path / "interrupted") == losses(tmp_path / "straight")  # bit for bit, steps 4 and 5
    state = Checkpoints(tmp_path / "interrupted", 1).newest_readable()[1]["state"]
    assert state == {"stage": 2, "stage_step": 1, "step": 5, "batches": 10}
    records = [json.loads(line) for line in (tmp_path / "interrupted" / "metrics.jsonl").read_text().splitlines()]
    scalars = tensorboard_scalars(tmp_path / "interrupted")  # two event files: the stopped run's and the resumed one's
    assert sorted(scalars) == sorted(f"train/{name}" for name in TENSORBOARD_SCALARS)
    for name in TENSORBOARD_SCALARS:
        assert [step for step, _ in scalars[f"train/{name}"]] == [r["step"] for r in records]
        assert [value for _, value in scalars[f"train/{name}"]] == pytest.approx([r[name] for r in records], rel=1e-6)
    assert scalars["train/loss"] == tensorboard_scalars(tmp_path / "straight")["train/loss"]


def test_a_damaged_newest_checkpoint_is_skipped_and_other_model_settings_are_refused(synthetic_corpus, tiny_config,
                                                                                     tmp_path):
    cfg = tiny_config(tmp_path, synthetic_corpus, log={"every": 1, "checkpoint_every": 1, "keep_checkpoints": 3})
    train(cfg, max_steps=3)
    newest, _ = Checkpoints(tmp_path, 3).newest_readable()
    newest.write_bytes(newest.read_bytes()[:1000])  # cut short by a full disk
    with pytest.warns(UserWarning, match="skipping the damaged checkpoint"):
        path, payload = Checkpoints(tmp_path, 3).newest_readable()
    assert path.name == "step-000002.pt" and payload["state"]["step"] == 2
    config_yaml = (tmp_path / "config.yaml").read_text()
    other = tiny_config(tmp_path, synthetic_corpus, model={**to_dict(cfg)["model"], "roi": False})
    with pytest.warns(UserWarning), pytest.raises(ConfigError, match="other model settings"):
        train(other)
    assert (tmp_path / "config.yaml").read_text() == config_yaml  # the run's own settings are kept
    with pytest.warns(UserWarning):
        train(cfg, max_steps=4)  # resumes from step 2
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][-2:] == [3, 4]


def test_checkpoints_keep_only_the_newest(synthetic_corpus, tiny_config, tmp_path):
    cfg = tiny_config(tmp_path, synthetic_corpus, log={"every": 5, "checkpoint_every": 2, "keep_checkpoints": 2})
    train(cfg)
    assert sorted(p.name for p in Checkpoints(tmp_path, 2).dir.iterdir()) == ["step-000008.pt", "step-000009.pt"]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 5, 6, 9]  # every 5 steps and at each stage's end
    assert records[0]["region_loss"] == 0.0 and records[-1]["region_loss"] > 0.0


@pytest.mark.slow
def test_two_process_ddp_with_gloo_keeps_the_ranks_in_step(synthetic_corpus, tiny_config, tmp_path):
    # Each rank writes its result to its own file. Not to the shared stdout: torchrun starts every worker as
    # `python -u`, and unbuffered print() writes the text and its newline in two write() calls, so two ranks that
    # print right after the same barrier can interleave into "rank 1 ...rank 0 ...\n\n": one line, one rank lost.
    cfg = to_dict(tiny_config(tmp_path / "run", synthetic_corpus))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    script = tmp_path / "ddp_check.py"
    script.write_text(
        "import json, os, sys\n"
        "import torch.distributed as dist\n"
        "from pathlib import Path\n"
        "from training.config import load_config\n"
        "from training.train import train\n"
        "model = train(load_config(sys.argv[1])).model\n"
        "total = sum(p.double().sum().item() for p in model.state_dict().values())\n"
        "rank, world = dist.get_rank(), dist.get_world_size()\n"
        "out = Path(sys.argv[2]) / f'rank-{rank}.json'\n"
        "out.with_suffix('.tmp').write_text(json.dumps({'world': world, 'checksum': repr(total)}))\n"
        "os.replace(out.with_suffix('.tmp'), out)\n"
        "dist.destroy_process_group()\n"
    )
    results = tmp_path / "results"
    results.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    torchrun = Path(sys.executable).parent / "torchrun"
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", str(script), str(tmp_path / "run.yaml"), str(results)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = {p.stem: json.loads(p.read_text()) for p in results.glob("rank-*.json")}
    assert sorted(ranks) == ["rank-0", "rank-1"] and {r["world"] for r in ranks.values()} == {2}
    checksums = {name: r["checksum"] for name, r in ranks.items()}
    assert checksums["rank-0"] == checksums["rank-1"]  # different halves of every batch, the same weights
    saved = Checkpoints(tmp_path / "run", 1).newest_readable()[1]["model"]
    assert repr(sum(v.double().sum().item() for v in saved.values())) == checksums["rank-0"]
    assert len(losses(tmp_path / "run")) == 9  # rank 0 alone writes the log


def test_cudnn_attention_is_off_on_cuda_unless_the_config_asks():
    """cuDNN builds an attention graph per new shape (hundreds of ms); batches change shape nearly every step."""
    before = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)
        choose_attention_kernels(Config(), torch.device("cpu"))  # a CPU run leaves CUDA's choice alone
        assert torch.backends.cuda.cudnn_sdp_enabled()
        choose_attention_kernels(Config(), torch.device("cuda"))
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        choose_attention_kernels(Config(cudnn_attention=True), torch.device("cuda"))
        assert torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)
