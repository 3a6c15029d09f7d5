"""Benchmarks of the RegionMed-CLIP trainer.

    python benchmarks/train.py reader step --shards out/corpus            # CPU: reader and train-step samples/s
    python benchmarks/train.py roi --device cuda --size vit_b16 --batch 128 --bf16
                                      # ROI model beside --no-roi on synthetic batches: the ROI branch's share
    python benchmarks/train.py compare --shards out/corpus --stage-steps 40
                                      # region-aware vs --no-roi, same data/steps/seed: region retrieval R@1

`reader`: batches/s of ShardDataset through a DataLoader (decode, augment, tokenise), for 0..2 workers.
`step`: optimiser steps/s of the configured model on real batches (data loading excluded), with and without the
ROI branch, on `--device`.
`roi`: the same step, timed for the model with and without the ROI branch on identical synthetic batches
whose region counts and text lengths come from the options (defaults: the sample corpus's own figures).
`compare`: trains both models with the config and evaluates them on the held-out split.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from training.config import Config, StageConfig, load_config  # noqa: E402
from training.data import Batch, ShardDataset, corpus_texts, shard_files  # noqa: E402
from training.model import RegionMedCLIP  # noqa: E402
from training.tokenizer import train_bpe  # noqa: E402
from training.train import (  # noqa: E402
    Process,
    build_model,
    build_optimizer,
    build_scheduler,
    choose_attention_kernels,
    train_step,
)

SIZES = {  # dotted config overrides on top of the config file
    "config": {},
    "tiny": {
        "data.image_size": 96,
        "model.image_encoder_args": {"patch_size": 12, "depth": 2, "embed_dim": 96, "num_heads": 2},
        "model.text_hidden": 64, "model.text_layers": 2, "model.text_heads": 2,
        "model.embed_dim": 64, "model.roi_dim": 64, "model.roi_pool": 2, "model.roi_heads": 2,
    },
    "vit_b16": {
        "data.image_size": 224,
        "model.image_encoder": "vit_base_patch16_224", "model.image_encoder_args": {},
        "model.text_hidden": 768, "model.text_layers": 12, "model.text_heads": 12,
        "model.embed_dim": 512, "model.roi_dim": 256, "model.roi_pool": 4, "model.roi_heads": 8,
    },
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_reader(cfg: Config, tokenizer, batches: int) -> None:
    files = shard_files(cfg.data.shards)
    for workers in (0, 1, 2):
        dataset = ShardDataset(files, cfg.data.train_split, cfg.data, tokenizer, train=True, seed=cfg.seed)
        loader = iter(DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=4 if workers else None))
        next(loader)  # workers started, files mapped
        started = time.perf_counter()
        for _ in range(batches):
            next(loader)
        seconds = time.perf_counter() - started
        print(f"reader  workers={workers}  {batches * cfg.data.batch_size / seconds:8.1f} samples/s  "
              f"(batch {cfg.data.batch_size}, {cfg.data.image_size} px, load average {os.getloadavg()[0]:.1f})",
              flush=True)


def time_steps(
    model: RegionMedCLIP, batches: list[Batch], cfg: Config, device: torch.device, steps: int, warmup: int
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) per `training.train.train_step` in the stage-3 setting
    (everything trained, region loss on). CPU seconds stay meaningful on a machine shared with other work."""
    stage = StageConfig(name="joint", steps=steps + warmup, lr=1e-4, region_weight=1.0)
    model.freeze(0.0, train_regions=True)
    optimizer = build_optimizer(model, cfg, stage)
    scheduler = build_scheduler(optimizer, stage)
    proc = Process(rank=0, world_size=1, device=device)
    stream = itertools.cycle([b.to(device) for b in batches])
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            started, cpu_started = time.perf_counter(), time.process_time()
        train_step(model, optimizer, scheduler, stream, stage, cfg, proc)
    sync(device)
    return (time.perf_counter() - started) / steps, (time.process_time() - cpu_started) / steps


def bench_step(cfg: Config, tokenizer, steps: int, device: torch.device, profile: bool = False) -> None:
    """Step time on real batches, a new one every step as in training (each setting its own, so that no setting
    finds shapes another has met), with and without the ROI branch, and on CUDA with cuDNN's attention kernels off
    (the trainer's default) and on; `profile`: then the ops that took the most time in 3 more steps (torch.profiler,
    host and device) over batches already seen."""
    dataset = iter(ShardDataset(shard_files(cfg.data.shards), cfg.data.train_split, cfg.data, tokenizer, train=True))
    kernels = (False, True) if device.type == "cuda" else (cfg.cudnn_attention,)
    for roi, cudnn in itertools.product((True, False), kernels):
        batches = list(itertools.islice(dataset, steps + 2))
        torch.manual_seed(0)
        model = build_model(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, roi=roi)), len(tokenizer))
        choose_attention_kernels(dataclasses.replace(cfg, cudnn_attention=cudnn), device)
        seconds, cpu = time_steps(model.to(device), batches, cfg, device, steps, warmup=2)
        if profile:
            activities = [torch.profiler.ProfilerActivity.CPU] + (
                [torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
            with torch.profiler.profile(activities=activities) as profiler:
                time_steps(model, batches, cfg, device, 3, warmup=0)
            for key in ("self_cpu_time_total",) + (("self_cuda_time_total",) if device.type == "cuda" else ()):
                print(f"profile roi={roi} cudnn_attention={cudnn} by {key}, 3 steps:")
                print(profiler.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=60))
        print(f"step    roi={roi!s:5}  cudnn_attention={cudnn!s:5}  {cfg.data.batch_size / seconds:8.1f} samples/s  "
              f"{1 / seconds:6.2f} steps/s  {cpu:6.2f} CPU-s/step  (batch {cfg.data.batch_size}, "
              f"{cfg.data.image_size} px, bf16={cfg.bf16}, {device.type}, {torch.get_num_threads()} threads)",
              flush=True)


def synthetic_batch(args, cfg: Config, vocab: int, seed: int) -> Batch:
    """A batch shaped like a corpus's: `regions` boxes per image, a share of them with distinct texts."""
    g = torch.Generator().manual_seed(seed)
    b, r, size = args.batch, args.batch * args.regions, cfg.data.image_size
    corner = torch.rand(r, 2, generator=g) * 0.7

    def texts(n: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randint(5, vocab, (n, length), generator=g), torch.ones(n, length, dtype=torch.long)

    text_ids, text_mask = texts(b, args.text_tokens)
    region_ids, region_mask = texts(max(1, round(r * args.region_text_share)), args.region_text_tokens)
    negative_ids, negative_mask = texts(b * cfg.data.hard_negatives, args.negative_tokens)
    return Batch(
        ids=[str(i) for i in range(b)],
        images=torch.randint(0, 256, (b, 1, size, size), dtype=torch.uint8, generator=g),
        text_ids=text_ids, text_mask=text_mask, text_index=torch.arange(b), text_keys=torch.arange(b),
        region_boxes=torch.cat([corner, corner + 0.05 + torch.rand(r, 2, generator=g) * 0.25], dim=1),
        region_image=torch.arange(r) // args.regions,
        region_labels=["nodule"] * r,
        region_text_ids=region_ids, region_text_mask=region_mask,
        region_text_index=torch.arange(r) % len(region_ids), region_text_keys=torch.arange(len(region_ids)),
        negative_ids=negative_ids, negative_mask=negative_mask,
        negative_owner=torch.arange(b * cfg.data.hard_negatives) // max(1, cfg.data.hard_negatives),
        position=0,
    )


def bench_roi(cfg: Config, args) -> None:
    device = torch.device(args.device)
    vocab = 30522  # BERT's vocabulary size
    batches = [synthetic_batch(args, cfg, vocab, seed) for seed in range(4)]
    results = {}
    for roi in (False, True):
        torch.manual_seed(0)
        model = RegionMedCLIP(dataclasses.replace(cfg.model, roi=roi), vocab, cfg.data.image_size, 512).to(device)
        seconds, _ = time_steps(model, batches, cfg, device, args.steps, args.warmup)
        results[roi] = seconds
        memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
        print(f"roi={roi!s:5}  {seconds * 1000:8.1f} ms/step  {1 / seconds:6.2f} steps/s  "
              f"{args.batch / seconds:8.1f} samples/s  peak {memory:.1f} GiB", flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
    share = (results[True] - results[False]) / results[True]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"ROI branch share of step time: {share:.1%}  ({args.size}, batch {args.batch}, "
          f"{args.regions} regions/image, {args.region_text_share:.0%} distinct region texts, bf16={cfg.bf16}, {name})")


def bench_compare(cfg: Config, args) -> None:
    from training.evaluate import evaluate
    from training.train import train

    stages = [dataclasses.replace(s, steps=args.stage_steps or s.steps) for s in cfg.stages]
    results = {}
    for roi in (True, False):
        run = Path(args.out) / ("roi" if roi else "no_roi")
        run_cfg = dataclasses.replace(cfg, out_dir=str(run), stages=stages,
                                      model=dataclasses.replace(cfg.model, roi=roi))
        started = time.perf_counter()
        train(run_cfg)
        results["roi" if roi else "no_roi"] = metrics = evaluate(run)
        print(f"roi={roi!s:5}  trained {sum(s.steps for s in stages)} steps in {time.perf_counter() - started:.0f} s  "
              f"region_to_text R@1 {metrics.get('region_to_text_R@1', float('nan')):.3f}  "
              f"image_to_text R@1 {metrics['image_to_text_R@1']:.3f}", flush=True)
    print(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modes", nargs="*", default=["reader", "step"], choices=["reader", "step", "roi", "compare"])
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_sample.yaml"))
    parser.add_argument("--shards", nargs="*", help="override data.shards")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="config", choices=sorted(SIZES))
    parser.add_argument("--batch", type=int, help="override data.batch_size")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reader-batches", type=int, default=20)
    parser.add_argument("--regions", type=int, default=4, help="roi: regions per image")
    parser.add_argument("--region-text-share", type=float, default=0.75, help="roi: distinct region texts per region")
    parser.add_argument("--text-tokens", type=int, default=96, help="roi: report length in tokens")
    parser.add_argument("--region-text-tokens", type=int, default=16, help="roi: region text length in tokens")
    parser.add_argument("--negative-tokens", type=int, default=8, help="roi: hard-negative length in tokens")
    parser.add_argument("--stage-steps", type=int, help="compare: steps of every stage")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench_train"), help="compare: run folders")
    parser.add_argument("--profile", action="store_true", help="step: the ops that took the most time")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 on a machine shared with other work)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    overrides = {"bf16": args.bf16, "device": "cuda" if args.device.startswith("cuda") else "cpu", **SIZES[args.size]}
    if args.shards:
        overrides["data.shards"] = args.shards
    if args.batch:
        overrides["data.batch_size"] = args.batch
    cfg = load_config(args.config, overrides)
    if "roi" in args.modes:
        bench_roi(cfg, args)
    if {"reader", "step"} & set(args.modes):
        texts = corpus_texts(shard_files(cfg.data.shards), cfg.data.train_split)
        tokenizer = train_bpe(texts, cfg.tokenizer.vocab_size)
        if "reader" in args.modes:
            bench_reader(cfg, tokenizer, args.reader_batches)
        if "step" in args.modes:
            bench_step(cfg, tokenizer, args.steps, torch.device(args.device), args.profile)
    if "compare" in args.modes:
        bench_compare(cfg, args)


if __name__ == "__main__":
    main()
