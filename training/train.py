"""Train RegionMed-CLIP on corpus shards, stage by stage. Read it top to bottom.

    python -m training.train configs/train_sample.yaml                       # one process, CPU or GPU
    torchrun --nproc_per_node 2 -m training.train configs/train_sample.yaml  # DDP (gloo on CPU, NCCL on GPU)
    medregion train configs/train_sample.yaml [--no-roi] [--ray-workers N]   # the CLI; Ray Train on a cluster

Progressive training: each stage of the config sets its length, learning rate, the weight of the region loss
(0 in stage 1: global alignment only) and the fraction of each encoder kept frozen (stage 2). Every stage gets
a fresh AdamW with warm-up and cosine decay. A checkpoint holds the model, optimiser, scheduler, stage and
step, the data position (batches consumed), the RNG states and the losses summed since the last logged line, so a
resumed run takes the very same next step and logs the same numbers; it refuses settings that change the model's
shapes, the schedule or the data position (`RESUME_KEYS`). Progress goes to the console, to
<out_dir>/metrics.jsonl and, as TensorBoard scalars, to event files beside it (`tensorboard --logdir <out_dir>`),
rank 0 only.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import random
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from training.config import Config, ConfigError, StageConfig, load_config, to_dict
from training.data import (
    Batch,
    ShardDataset,
    check_columns,
    check_manifest,
    check_unique_ids,
    corpus_texts,
    shard_files,
    warn_about_gaps,
)
from training.loss import Losses, clip_losses
from training.model import RegionMedCLIP
from training.tokenizer import load_tokenizer, prepare_tokenizer


# ---------------------------------------------------------------------------------------------- processes
@dataclass
class Process:
    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def choose_attention_kernels(cfg: Config, device: torch.device) -> None:
    """On CUDA, whether scaled-dot-product attention may use cuDNN's kernels (`Config.cudnn_attention`)."""
    if device.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(cfg.cudnn_attention)


def setup_process(device: str) -> Process:
    """Join the process group that torchrun (env vars) or Ray Train (already initialised) set up, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    world_size = dist.get_world_size() if dist.is_initialized() else 1
    return Process(rank, world_size, torch.device("cuda", local_rank) if use_cuda else torch.device("cpu"))


# ---------------------------------------------------------------------------------------------- state
@dataclass
class TrainState:
    stage: int = 0  # index into cfg.stages
    stage_step: int = 0  # optimiser steps taken in this stage
    step: int = 0  # optimiser steps taken in all
    batches: int = 0  # batches consumed: the data position


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpoints:
    """<out_dir>/checkpoints/step-000123.pt, written atomically; the newest `keep` are kept."""

    def __init__(self, out_dir: Path, keep: int):
        self.dir, self.keep = out_dir / "checkpoints", keep

    def by_step(self) -> list[Path]:
        """The checkpoint files, oldest first by their step number (6 digits, more from step 1,000,000)."""
        steps = {path: re.fullmatch(r"step-(\d+)\.pt", path.name) for path in self.dir.glob("step-*.pt")}
        return sorted((path for path, step in steps.items() if step), key=lambda path: int(steps[path][1]))

    def newest_readable(self) -> tuple[Path, dict] | None:
        """The newest checkpoint that loads, with its payload; a damaged one (cut short, emptied) is skipped with
        a warning, and an older one is read instead."""
        for path in reversed(self.by_step()):
            try:
                return path, load_checkpoint(path)
            except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
                warnings.warn(f"skipping the damaged checkpoint {path}: {type(exc).__name__}: {exc}", stacklevel=2)
        return None

    def save(self, step: int, payload: dict) -> Path:
        """Write the checkpoint of `step`, then remove all but the newest `keep` up to it, those of later steps (a
        history this run left: damaged ones that its resume skipped) and files cut short by a stop while writing."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"step-{step:06d}.pt"
        tmp = path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)
        done = self.by_step()
        newest = done.index(path) + 1
        for old in [*done[:newest][: -self.keep], *done[newest:], *self.dir.glob("step-*.tmp")]:
            old.unlink()
        return path


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)  # our own file: RNG states are pickled


# The settings a resumed run must keep: they shape the model (and its tokenizer), or set the schedule and the
# data position (stages, optimiser, batch size, seed, split). Others (device, workers, logging, augmentation,
# the shards' paths) may change.
RESUME_KEYS = ("seed", "data.image_size", "data.batch_size", "data.train_split", "data.max_text_tokens",
               "data.max_region_text_tokens", "tokenizer", "model", "optim", "stages")


def check_resumable(path: Path, saved: dict, current: dict) -> None:
    """Refuse to resume the checkpoint at `path`, trained with config `saved`, under a `current` config that
    changes a RESUME_KEYS setting; the message names every changed key."""
    changed = [d for key in RESUME_KEYS for d in _differences(_setting(saved, key), _setting(current, key), key)]
    if changed:
        raise ConfigError(f"{path} was trained with other settings than these: {'; '.join(changed)}. A resumed run "
                          "keeps the settings that shape the model or set the schedule and the data order: resume "
                          "with the run's own settings (its config.yaml), or give a new run folder")


def _setting(config: dict, dotted: str) -> object:
    for key in dotted.split("."):
        config = config.get(key) if isinstance(config, dict) else None
    return config


def _differences(saved: object, current: object, where: str) -> list[str]:
    """The dotted keys, down to the leaves, whose values differ, each with both values."""
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = sorted(saved.keys() | current.keys())
        return [d for key in keys for d in _differences(saved.get(key), current.get(key), f"{where}.{key}")]
    if isinstance(saved, list) and isinstance(current, list) and len(saved) != len(current):
        return [f"{where} has {len(saved)} items (here {len(current)})"]
    if isinstance(saved, list) and isinstance(current, list):
        return [d for i, pair in enumerate(zip(saved, current)) for d in _differences(*pair, f"{where}[{i}]")]
    return [] if saved == current else [f"{where} {saved!r} (here {current!r})"]


# ---------------------------------------------------------------------------------------------- builders
def build_model(cfg: Config, vocab_size: int, checkpoint: dict | None = None) -> RegionMedCLIP:
    """The model of `cfg`, with its pretrained weights; or with a checkpoint's weights, when one is given, and then
    none read from the config's paths (a checkpoint from before it kept `text_config` still reads them)."""
    max_tokens = max(cfg.data.max_text_tokens, cfg.data.max_region_text_tokens)
    if checkpoint is None:
        return RegionMedCLIP(cfg.model, vocab_size, cfg.data.image_size, max_tokens)
    model = RegionMedCLIP(cfg.model, vocab_size, cfg.data.image_size, max_tokens, checkpoint.get("text_config"))
    model.load_state_dict(checkpoint["model"])
    return model


def build_optimizer(model: torch.nn.Module, cfg: Config, stage: StageConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases, norms and temperatures."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.optim.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=stage.lr, betas=cfg.optim.betas)


def build_scheduler(optimizer: torch.optim.Optimizer, stage: StageConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to 10% of the stage's learning rate."""

    def factor(step: int) -> float:
        if step < stage.warmup_steps:
            return (step + 1) / stage.warmup_steps
        progress = (step - stage.warmup_steps) / max(1, stage.steps - stage.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def build_loader(dataset: ShardDataset, cfg: Config, proc: Process) -> DataLoader:
    # The loader's own generator keeps worker seeding off the global RNG, which a resume restores.
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=cfg.data.num_workers,
        pin_memory=proc.device.type == "cuda",
        prefetch_factor=4 if cfg.data.num_workers else None,
        generator=torch.Generator().manual_seed(cfg.seed),
    )


def autocast(cfg: Config, proc: Process) -> contextlib.AbstractContextManager:
    if proc.device.type == "cuda" and cfg.bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------- one step
def next_batch(batches: Iterator) -> Batch:
    """The loader's next batch. A ConfigError raised in a loader worker (a damaged record) comes back from
    DataLoader with the worker's traceback as its message; it is raised again with its own one-line message."""
    try:
        return next(batches)
    except ConfigError as exc:
        raise ConfigError(str(exc).rstrip().splitlines()[-1].split("ConfigError: ", 1)[-1]) from None


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterator,
    stage: StageConfig,
    cfg: Config,
    proc: Process,
) -> Losses:
    """One optimiser step over `grad_accum` micro-batches; returns the micro-batches' mean losses."""
    accum = cfg.optim.grad_accum
    totals = torch.zeros(3, device=proc.device)
    for micro in range(accum):
        batch = next_batch(batches).to(proc.device)
        last = micro == accum - 1
        sync = contextlib.nullcontext() if last or proc.world_size == 1 else model.no_sync()
        with sync:
            with autocast(cfg, proc):
                out = model(batch, with_regions=stage.region_weight > 0, with_negatives=cfg.data.hard_negatives > 0)
                losses = clip_losses(out, batch, stage.region_weight)
            (losses.total / accum).backward()
        totals += torch.stack([losses.total, losses.global_, losses.region]).detach() / accum
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return Losses(*totals)


# ---------------------------------------------------------------------------------------------- the loop
VERIFIED_SHARDS = "verified_shards.json"  # the run folder's record of the shards check_manifest found sound
TENSORBOARD_SCALARS = ("loss", "global_loss", "region_loss", "lr", "logit_scale", "samples_per_s")


class MetricsLog:
    """Console lines, <out_dir>/metrics.jsonl and TensorBoard event files in <out_dir> (tags `train/<name>`),
    written by rank 0; losses averaged over all ranks. A run resumed from the checkpoint of `resume_step` (0: a
    new run) drops the lines and purges the events of later steps that the stopped run had logged (they are taken
    again), so each step is logged once; the losses summed since the last line travel in the checkpoint."""

    def __init__(self, out_dir: Path, proc: Process, report: Callable[[dict], None] | None, resume_step: int = 0):
        self.path, self.proc, self.report = out_dir / "metrics.jsonl", proc, report
        self.sums, self.steps, self.started = torch.zeros(3, device=proc.device), 0, time.perf_counter()
        self.events = None
        if proc.main:
            from torch.utils.tensorboard import SummaryWriter

            self.drop_lines_after(resume_step)
            self.events = SummaryWriter(str(out_dir), purge_step=resume_step + 1)

    def drop_lines_after(self, step: int) -> None:
        """Keep the lines of metrics.jsonl up to `step` (a line cut short by a stop is dropped too)."""
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if _logged_step(line) <= step]
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(f"{line}\n" for line in kept))
            tmp.replace(self.path)

    def add(self, losses: Losses) -> None:
        self.sums += torch.stack([losses.total, losses.global_, losses.region])
        self.steps += 1

    def state_dict(self) -> dict:
        """What was summed since the last line, averaged over the ranks (a collective: every rank calls it)."""
        sums = self.sums.clone()
        if self.proc.world_size > 1:
            dist.all_reduce(sums)
            sums /= self.proc.world_size
        return {"sums": sums.cpu(), "steps": self.steps, "seconds": time.perf_counter() - self.started}

    def load_state_dict(self, state: dict) -> None:
        self.sums.copy_(state["sums"])
        self.steps, self.started = state["steps"], time.perf_counter() - state["seconds"]

    def flush(self, state: TrainState, stage: StageConfig, lr: float, samples: int, scale: float) -> dict:
        means = self.sums / self.steps
        if self.proc.world_size > 1:
            dist.all_reduce(means)
            means /= self.proc.world_size
        elapsed = time.perf_counter() - self.started
        loss, global_, region = means.tolist()
        record = {
            "step": state.step,
            "stage": stage.name,
            "stage_step": state.stage_step,
            "loss": loss,
            "global_loss": global_,
            "region_loss": region,
            "lr": lr,
            "logit_scale": scale,
            "samples_per_s": samples * self.steps / elapsed,
            "world_size": self.proc.world_size,
            "time": time.time(),
        }
        if self.proc.main:
            print(
                f"[{stage.name}] step {state.step} ({state.stage_step}/{stage.steps}) loss {loss:.4f} "
                f"(global {global_:.4f}, region {region:.4f}) lr {lr:.2e} {record['samples_per_s']:.1f} samples/s",
                flush=True,
            )
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            for name in TENSORBOARD_SCALARS:
                self.events.add_scalar(f"train/{name}", record[name], state.step)
            self.events.flush()
        if self.report:
            self.report(record)  # Ray Train: every rank reports at the same steps
        self.sums.zero_()
        self.steps, self.started = 0, time.perf_counter()
        return record

    def close(self) -> None:
        if self.events is not None:
            self.events.close()


def _logged_step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):  # cut short
        return math.inf


@dataclass
class TrainResult:
    model: RegionMedCLIP  # this process's trained model (the same on every rank)
    metrics: dict  # the last metrics record


def train(cfg: Config, max_steps: int | None = None, report: Callable[[dict], None] | None = None) -> TrainResult:
    """Run (or resume) the configured stages; stop early after `max_steps` optimiser steps in all.

    `report` receives every metrics record on every rank (Ray Train).
    """
    proc = setup_process(cfg.device)
    choose_attention_kernels(cfg, proc.device)
    out_dir = Path(cfg.out_dir)
    checkpoints = Checkpoints(out_dir, cfg.log.keep_checkpoints)
    files = shard_files(cfg.data.shards)
    check_columns(files)
    check_unique_ids(files)
    found = checkpoints.newest_readable()
    latest, resumed = found or (None, None)
    if resumed is not None:
        check_resumable(latest, resumed["config"], to_dict(cfg))
    if proc.main:  # rank 0 checks the corpus, writes the run folder's config and tokenizer; the others read them
        check_manifest(cfg.data.shards, out_dir / VERIFIED_SHARDS)
        region_stages = [stage.name for stage in cfg.stages if stage.region_weight > 0 and cfg.model.roi]
        warn_about_gaps(files, cfg.data.train_split, region_stages)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        corpus = corpus_texts(files, cfg.data.train_split)
        prepare_tokenizer(cfg.tokenizer.path, cfg.tokenizer.vocab_size, out_dir / "tokenizer", corpus,
                          keep=resumed is not None)
    proc.barrier()
    tokenizer = load_tokenizer(out_dir / "tokenizer")

    seed_everything(cfg.seed)
    model = build_model(cfg, len(tokenizer), resumed).to(proc.device)
    state = TrainState()
    if resumed is not None:
        state = TrainState(**resumed["state"])
        if proc.main:
            print(f"resuming from {latest} (step {state.step})", flush=True)

    dataset = ShardDataset(
        files, cfg.data.train_split, cfg.data, tokenizer, train=True, seed=cfg.seed,
        rank=proc.rank, world_size=proc.world_size, start=state.batches,
    )
    batches = iter(build_loader(dataset, cfg, proc))
    if resumed:
        set_rng_state(resumed["rng"])
    log = MetricsLog(out_dir, proc, report, resume_step=state.step)
    if resumed and "metrics" in resumed:  # older checkpoints do not hold the log's sums
        log.load_state_dict(resumed["metrics"])
    samples_per_step = cfg.data.batch_size * proc.world_size * cfg.optim.grad_accum
    record: dict = {}

    for stage_index in range(state.stage, len(cfg.stages)):
        stage = cfg.stages[stage_index]
        model.freeze(stage.freeze_fraction, train_regions=stage.region_weight > 0)
        wrapped = DistributedDataParallel(model) if proc.world_size > 1 else model  # this stage's trainable set
        optimizer = build_optimizer(model, cfg, stage)
        scheduler = build_scheduler(optimizer, stage)
        if resumed and resumed["state"]["stage"] == stage_index:
            optimizer.load_state_dict(resumed["optimizer"])
            scheduler.load_state_dict(resumed["scheduler"])
        while state.stage_step < stage.steps and (max_steps is None or state.step < max_steps):
            log.add(train_step(wrapped, optimizer, scheduler, batches, stage, cfg, proc))
            state.step, state.stage_step = state.step + 1, state.stage_step + 1
            state.batches += cfg.optim.grad_accum
            stage_done = state.stage_step == stage.steps
            stopping = max_steps is not None and state.step == max_steps
            if state.step % cfg.log.every == 0 or stage_done or stopping:
                lr, scale = scheduler.get_last_lr()[0], model.logit_scale.exp().item()
                record = log.flush(state, stage, lr, samples_per_step, scale)
            if state.step % cfg.log.checkpoint_every == 0 or stage_done or stopping:
                metrics = log.state_dict()  # on every rank: a collective
                if proc.main:
                    payload = {"model": model.state_dict(), "text_config": model.text_config()}
                    payload |= {"optimizer": optimizer.state_dict(), "rng": rng_state()}
                    payload |= {"scheduler": scheduler.state_dict(), "state": asdict(state), "config": to_dict(cfg)}
                    checkpoints.save(state.step, payload | {"metrics": metrics})
        if state.stage_step < stage.steps:  # stopped early by max_steps
            break
        state.stage, state.stage_step = state.stage + 1, 0
        del wrapped
    log.close()
    proc.barrier()
    return TrainResult(model, record)


def main(argv: list[str] | None = None) -> None:
    """`python -m training.train CONFIG [--no-roi] [--max-steps N]`, also what torchrun starts per process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--no-roi", action="store_true", help="train the global-only baseline")
    parser.add_argument("--max-steps", type=int, default=None, help="stop (with a checkpoint) after N steps")
    args = parser.parse_args(argv)
    train(load_config(args.config, {"model.roi": False} if args.no_roi else None), max_steps=args.max_steps)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
