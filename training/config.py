"""The training run's configuration: YAML in, typed dataclasses out, every unknown key an error.

A run is described by one YAML file (configs/train_*.yaml) whose sections mirror the dataclasses below.
`load_config(path)` reads it strictly: a misspelt key or a value of the wrong type stops the run before
anything is built, with the key's dotted path in the message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.typed_config import ConfigError, from_dict, read_yaml, to_dict  # noqa: F401 (to_dict: for callers)


@dataclass
class AugmentConfig:
    """Training-time augmentations; every one of them moves the boxes with the pixels."""

    crop_scale: tuple[float, float] = (0.7, 1.0)  # area fraction of the random crop
    crop_ratio: tuple[float, float] = (0.8, 1.25)  # aspect ratio range of the random crop
    hflip: float = 0.0  # probability; a flip swaps the words "left"/"right" in texts and labels (not RUL, LLL...)
    jitter: float = 0.1  # brightness and contrast jitter amplitude
    min_visible: float = 0.5  # a region whose box keeps less than this fraction of its area is dropped


@dataclass
class DataConfig:
    shards: list[str] = field(default_factory=list)  # build output folders, Hub-layout folders or shard files
    train_split: str = "train"
    eval_split: str = "test"
    image_size: int = 224
    batch_size: int = 32  # per process
    num_workers: int = 2
    max_regions: int = 8  # per image; regions with text first, then by score
    max_text_tokens: int = 128
    max_region_text_tokens: int = 32
    hard_negatives: int = 0  # negated statements per image used as hard negatives (0 = none)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class TokenizerConfig:
    path: str | None = None  # a local Hugging Face tokenizer directory; None = train one on the corpus
    vocab_size: int = 8000  # for the trained byte-level BPE tokenizer (256 bytes included)


@dataclass
class ModelConfig:
    image_encoder: str = "vit_base_patch16_224"  # any timm ViT or CNN name
    image_encoder_args: dict[str, Any] = field(default_factory=dict)  # extra timm kwargs (depth, patch_size, ...)
    image_weights: str | None = None  # a local timm checkpoint file; None = random init
    text_model: str | None = None  # a local Hugging Face BERT-style model directory; None = random init
    text_hidden: int = 768
    text_layers: int = 12
    text_heads: int = 12
    embed_dim: int = 512
    roi: bool = True  # False = the global-only baseline (`--no-roi`)
    roi_dim: int = 256
    roi_pool: int = 4  # roi_align output is roi_pool x roi_pool cells
    roi_heads: int = 4


@dataclass
class StageConfig:
    """One phase of progressive training."""

    name: str
    steps: int
    lr: float
    region_weight: float = 0.0  # 0 = global alignment only
    freeze_fraction: float = 0.0  # fraction of each encoder's lowest layer groups kept frozen
    warmup_steps: int = 0


@dataclass
class OptimConfig:
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    grad_accum: int = 1
    grad_clip: float = 1.0


@dataclass
class LogConfig:
    every: int = 10  # optimiser steps between console/JSONL lines
    checkpoint_every: int = 100  # optimiser steps between checkpoints (and one at every stage end)
    keep_checkpoints: int = 2


@dataclass
class EvalConfig:
    batch_size: int = 64
    templates: list[str] = field(
        default_factory=lambda: ["{}", "there is {}", "findings consistent with {}", "an image showing {}"]
    )


@dataclass
class Config:
    out_dir: str = "out/train"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # autocast to bfloat16 on CUDA; ignored on CPU
    # cuDNN's attention kernels on CUDA: PyTorch builds a cuDNN graph for every new shape (hundreds of ms), and a
    # batch's text lengths and region counts are new nearly every step; off, PyTorch picks its flash or
    # memory-efficient attention kernels
    cudnn_attention: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    stages: list[StageConfig] = field(default_factory=list)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def validate(cfg: Config) -> Config:
    """Cross-field checks that types alone cannot express."""
    if not cfg.stages:
        raise ConfigError("config.stages: at least one stage is needed")
    for i, stage in enumerate(cfg.stages):
        if stage.steps <= 0 or stage.lr <= 0:
            raise ConfigError(f"config.stages[{i}]: steps and lr must be positive")
        if not 0.0 <= stage.freeze_fraction <= 1.0:
            raise ConfigError(f"config.stages[{i}].freeze_fraction must be in [0, 1]")
        _at_least(0, {f"stages[{i}].warmup_steps": stage.warmup_steps})
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"config.device: {cfg.device!r} is not auto, cpu or cuda")
    if cfg.data.batch_size < 2:
        raise ConfigError("config.data.batch_size: contrastive training needs at least 2 per batch")
    _at_least(1, {"log.every": cfg.log.every, "log.checkpoint_every": cfg.log.checkpoint_every,
                  "log.keep_checkpoints": cfg.log.keep_checkpoints, "optim.grad_accum": cfg.optim.grad_accum})
    _at_least(0, {"data.num_workers": cfg.data.num_workers})
    _at_least(3, {"data.max_text_tokens": cfg.data.max_text_tokens,
                  "data.max_region_text_tokens": cfg.data.max_region_text_tokens}, "[CLS], a word and [SEP]")
    low, high = cfg.data.augment.crop_scale
    if not 0 < low <= high <= 1:
        raise ConfigError(f"config.data.augment.crop_scale: {[low, high]} is not a range inside (0, 1]")
    _check_local_paths(cfg)
    _check_model(cfg.model, cfg.data.image_size)
    return cfg


def _check_local_paths(cfg: Config) -> None:
    """The tokenizer, image weights and text model that the config names are there, before the corpus is read."""
    for key, path, kind in (("tokenizer.path", cfg.tokenizer.path, "folder"),
                            ("model.image_weights", cfg.model.image_weights, "file"),
                            ("model.text_model", cfg.model.text_model, "folder")):
        if path and not (Path(path).is_file() if kind == "file" else Path(path).is_dir()):
            raise ConfigError(f"config.{key}: {path} is no {kind} (weights and tokenizers come from local paths only)")


def _at_least(least: int, values: dict[str, int], room_for: str = "") -> None:
    for key, value in values.items():
        if value < least:
            why = f" (room for {room_for})" if room_for else ""
            raise ConfigError(f"config.{key} must be at least {least}{why}, got {value}")


def _check_model(cfg: ModelConfig, image_size: int) -> None:
    """Attention heads that divide their widths, and an image encoder that builds and takes `image_size` images."""
    if cfg.text_model is None and cfg.text_hidden % cfg.text_heads:
        raise ConfigError(f"config.model.text_heads: {cfg.text_heads} does not divide text_hidden {cfg.text_hidden}")
    if cfg.roi and cfg.roi_dim % cfg.roi_heads:
        raise ConfigError(f"config.model.roi_heads: {cfg.roi_heads} does not divide roi_dim {cfg.roi_dim}")
    from training.model import check_image_encoder  # torch and timm: only once the rest is known to be sound

    check_image_encoder(cfg, image_size)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML config; `overrides` maps dotted keys (e.g. "model.roi") to values that replace the file's."""
    data = read_yaml(path)
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return validate(from_dict(Config, data))
