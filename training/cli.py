"""`medregion train` and `medregion eval`: argument parsing only; the work is in training.train / .evaluate.

Mounted on the `medregion` typer app by pipeline/cli.py. Heavy imports (torch, transformers) happen inside
the commands, so the CLI starts fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def train_run(
    config: Path = typer.Argument(Path("configs/train_sample.yaml"), help="YAML training config"),
    no_roi: bool = typer.Option(False, "--no-roi", help="the same model without the ROI branch (global-only baseline)"),
    out: Optional[str] = typer.Option(None, help="run folder (overrides out_dir)"),
    shards: Optional[list[str]] = typer.Option(None, help="shard folder or file, repeatable (overrides data.shards)"),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda (overrides device)"),
    max_steps: Optional[int] = typer.Option(None, help="stop after N optimiser steps, with a checkpoint"),
    ray_workers: int = typer.Option(0, help="train with Ray Train's TorchTrainer on N workers (0: this process)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster to join with --ray-workers"),
    ray_gpu: bool = typer.Option(False, "--ray-gpu", help="one GPU per Ray worker"),
) -> None:
    """Pretrain RegionMed-CLIP on corpus shards; resumes from the run folder's newest checkpoint.

    For DDP on one machine: torchrun --nproc_per_node N -m training.train CONFIG.
    """
    from training.config import ConfigError, load_config

    overrides = {"out_dir": out, "data.shards": shards, "device": device, "model.roi": False if no_roi else None}
    if max_steps is not None and max_steps < 1:  # a ConfigError is one `error:` line (pipeline.cli)
        raise ConfigError(f"--max-steps must be at least 1, got {max_steps}")
    cfg = load_config(config, {k: v for k, v in overrides.items() if v is not None})
    if ray_workers:
        from training.ray_train import train_with_ray

        train_with_ray(cfg, ray_workers, ray_gpu, ray_address, max_steps)
    else:
        from training.train import train

        train(cfg, max_steps=max_steps)
    typer.echo(f"run folder: {cfg.out_dir}")


def eval_run(
    run: Path = typer.Argument(..., help="a training run folder (holds checkpoints/ and tokenizer/)"),
    shards: Optional[list[str]] = typer.Option(None, help="shard folder or file, repeatable (default: the run's)"),
    split: Optional[str] = typer.Option(None, help="split to evaluate (default: the config's eval_split)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
) -> None:
    """Retrieval R@1/5/10 (image<->report, region->region text) and zero-shot accuracy/AUC of a run."""
    from training.evaluate import evaluate, format_metrics

    metrics = evaluate(run, shards, split, device)
    typer.echo(json.dumps(metrics, indent=2) if as_json else format_metrics(metrics))
