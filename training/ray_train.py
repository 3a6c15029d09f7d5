"""Train on a Ray cluster with Ray Train's TorchTrainer: the same `training.train.train` in every worker.

Ray Train starts one worker per rank, sets up the torch process group (NCCL with GPUs, gloo without) and
the RANK / LOCAL_RANK / WORLD_SIZE variables, which `train` picks up as it does under torchrun. Every rank
reports its metrics records through `ray.train.report`. The run folder (`out_dir`: config, tokenizer,
checkpoints, metrics.jsonl) must be on storage that every node sees, as a resumed run reads it back.
"""
from __future__ import annotations

from pathlib import Path

from training.config import Config, from_dict, to_dict


def _worker(loop_config: dict) -> None:
    import ray.train

    from training.train import train

    train(from_dict(Config, loop_config["config"]), max_steps=loop_config["max_steps"], report=ray.train.report)


def train_with_ray(
    cfg: Config, num_workers: int, use_gpu: bool, address: str | None = None, max_steps: int | None = None
):
    """Fit on `num_workers` Ray workers (joining `address`, or a local Ray); returns Ray Train's Result."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from schemas.runtime import RayConfig, ensure_ray

    ensure_ray(RayConfig(address=address))
    out_dir = Path(cfg.out_dir).resolve()
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"config": to_dict(cfg) | {"out_dir": str(out_dir)}, "max_steps": max_steps},
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
        run_config=RunConfig(name="ray", storage_path=str(out_dir)),
    )
    return trainer.fit()
