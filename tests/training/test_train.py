import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training.config import Config, ConfigError, to_dict
from training.train import (
    TENSORBOARD_SCALARS,
    Checkpoints,
    MetricsLog,
    Process,
    check_resumable,
    choose_attention_kernels,
    train,
)

ROOT = Path(__file__).resolve().parents[2]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def losses(run: Path) -> list[float]:
    return [r["loss"] for r in records(run)]


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
    with pytest.warns(UserWarning), pytest.raises(ConfigError, match=r"than these: model.roi True \(here False\)"):
        train(other)
    assert (tmp_path / "config.yaml").read_text() == config_yaml  # the run's own settings are kept
    with pytest.warns(UserWarning):
        train(cfg, max_steps=4)  # resumes from step 2
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][-2:] == [3, 4]


def test_a_resumed_run_logs_each_step_once_with_the_numbers_of_an_uninterrupted_one(synthetic_corpus, tiny_config,
                                                                                     tmp_path):
    log = {"every": 4, "checkpoint_every": 5, "keep_checkpoints": 4}  # lines at 3, 4, 6, 8, 9: stage ends and every 4
    train(tiny_config(tmp_path / "straight", synthetic_corpus, log=log))
    cfg = tiny_config(tmp_path / "killed", synthetic_corpus, log=log)
    train(cfg, max_steps=7)  # lines at 3, 4, 6, 7; checkpoints at 3, 5, 6, 7
    for step in (6, 7):  # killed after step 7's line, before the checkpoint of step 6 was written
        (tmp_path / "killed" / "checkpoints" / f"step-{step:06d}.pt").unlink()
    train(cfg)  # resumes from step 5, whose loss the line of step 6 averages in
    straight, resumed = (records(tmp_path / run) for run in ("straight", "killed"))
    assert [r["step"] for r in resumed] == [r["step"] for r in straight] == [3, 4, 6, 8, 9]
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]


def test_resuming_drops_the_lines_logged_after_the_checkpoint(tmp_path):
    lines = [json.dumps({"step": step, "loss": 1.0}) for step in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 6, "lo')  # the last one cut short
    MetricsLog(tmp_path, Process(0, 1, torch.device("cpu")), None, resume_step=3).close()
    assert [r["step"] for r in records(tmp_path)] == [1, 2, 3]
    MetricsLog(tmp_path, Process(0, 1, torch.device("cpu")), None, resume_step=0).close()  # no checkpoint: anew
    assert (tmp_path / "metrics.jsonl").read_text() == ""


def test_resuming_with_settings_that_change_shapes_or_the_schedule_is_refused(synthetic_corpus, tiny_config,
                                                                             tmp_path):
    cfg = tiny_config(tmp_path / "run", synthetic_corpus)
    train(cfg, max_steps=1)
    config_yaml = (tmp_path / "run" / "config.yaml").read_text()
    bigger = tiny_config(tmp_path / "run", synthetic_corpus, data={**to_dict(cfg)["data"], "image_size": 96})
    with pytest.raises(ConfigError, match=r"step-000001.pt was trained with other settings than these: "
                                          r"data.image_size 64 \(here 96\)\. A resumed run keeps"):
        train(bigger)
    assert (tmp_path / "run" / "config.yaml").read_text() == config_yaml  # the refused settings are not saved
    saved = to_dict(cfg)
    stages = [dict(stage, steps=1) for stage in saved["stages"]]
    with pytest.raises(ConfigError, match=r"data.batch_size 8 \(here 4\); stages\[0\].steps 3 \(here 1\); "
                                          r"stages\[1\].steps 3 \(here 1\); stages\[2\].steps 3 \(here 1\)\."):
        check_resumable(tmp_path, saved, saved | {"data": saved["data"] | {"batch_size": 4}, "stages": stages})
    with pytest.raises(ConfigError, match=r"optim.grad_accum 1 \(here 2\); stages has 3 items \(here 1\)\."):
        check_resumable(tmp_path, saved, saved | {"stages": stages[:1], "optim": saved["optim"] | {"grad_accum": 2}})
    elsewhere = {"out_dir": "/elsewhere", "device": "cuda", "log": saved["log"] | {"every": 7}}
    check_resumable(tmp_path, saved, saved | elsewhere | {"data": saved["data"] | {"num_workers": 3, "shards": []}})


def test_checkpoints_are_ordered_by_their_step_number(tmp_path):
    checkpoints = Checkpoints(tmp_path, keep=2)
    checkpoints.dir.mkdir()
    for name in ("step-000005.pt", "step-999999.pt", "step-1000000.pt"):  # 6 digits up to step 999,999
        torch.save({"name": name}, checkpoints.dir / name)
    assert checkpoints.newest_readable()[1] == {"name": "step-1000000.pt"}
    checkpoints.save(1000001, {"name": "step-1000001.pt"})
    assert sorted(p.name for p in checkpoints.dir.iterdir()) == ["step-1000000.pt", "step-1000001.pt"]


def test_a_run_that_skipped_damaged_checkpoints_keeps_its_own_and_clears_cut_writes(synthetic_corpus, tiny_config,
                                                                                   tmp_path):
    checkpoints = Checkpoints(tmp_path, keep=2)
    checkpoints.dir.mkdir()
    for name in ("step-000007.pt", "step-000008.pt"):
        (checkpoints.dir / name).write_bytes(b"")  # emptied by a crash: the run starts anew
    (checkpoints.dir / "step-000009.tmp").write_bytes(b"PK\x03\x04")  # a write stopped by kill -9
    with pytest.warns(UserWarning, match="skipping the damaged checkpoint"):
        train(tiny_config(tmp_path, synthetic_corpus, log={"every": 1, "checkpoint_every": 1}), max_steps=3)
    assert sorted(p.name for p in checkpoints.dir.iterdir()) == ["step-000002.pt", "step-000003.pt"]


def test_a_damaged_image_read_by_a_loader_worker_is_one_error_line(edited_corpus, damaged_png, tiny_config, tmp_path):
    corpus = edited_corpus(tmp_path / "corpus", lambda record: record["image"].update(bytes=damaged_png))
    data = to_dict(tiny_config(tmp_path / "run", corpus))["data"] | {"num_workers": 1}
    cfg = tiny_config(tmp_path / "run", corpus, data=data)
    with pytest.raises(ConfigError) as raised:
        train(cfg, max_steps=1)
    assert re.fullmatch(r"record 'synthetic-\d+' of shard \S+part-00000.arrow: its image cannot be decoded "
                        r"\(SyntaxError: broken PNG file \(chunk b'\\xb7\\xf0Vh'\)\)", str(raised.value))


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
