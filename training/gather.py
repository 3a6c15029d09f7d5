"""One contrastive level gathered over the DDP ranks, so that every rank's loss sees the whole global batch.

open_clip's `gather_with_grad=True, local_loss=False`, adapted to this loss's shape: ranks hold different numbers
of rows (regions per image vary) and texts are deduplicated, so rows are padded to the largest rank for the
collective, texts are deduplicated again across ranks by their stable key, and indices are offset to the
gathered order. Every rank then computes the same global loss. The backward pass sums each rank's gradient for
the rows it owns (an all-reduce, which gloo and NCCL both have), and DDP's averaging of parameter gradients over
the ranks makes the result the exact gradient of the global loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Level:
    """A contrastive level: visual rows against distinct texts, row i matching text index[i]."""

    visual: torch.Tensor  # (N, D)
    text: torch.Tensor  # (U, D)
    index: torch.Tensor  # (N,) row -> its text
    keys: torch.Tensor  # (U,) each text's stable key (training.data.text_key), to find a text repeated on two ranks
    negatives: torch.Tensor | None = None  # (M, D) hard negatives
    owner: torch.Tensor | None = None  # (M,) negative -> the row it must not match


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_level(level: Level) -> Level:
    """`level` over every rank's rows (unchanged in a single process). Every rank must call it, in step."""
    if world_size() == 1:
        return level
    visual_sizes, text_sizes = _sizes(level.visual), _sizes(level.text)
    visual, text = _gather(level.visual, visual_sizes), _gather(level.text, text_sizes)
    keys = _gather(level.keys, text_sizes)
    index = _gather(level.index + _starts(text_sizes)[dist.get_rank()], visual_sizes)
    unique, inverse = torch.unique(keys, return_inverse=True)
    positions = torch.arange(len(keys), device=keys.device)
    first = torch.full((len(unique),), len(keys), device=keys.device).scatter_reduce(0, inverse, positions, "amin")
    negatives = owner = None
    if level.negatives is not None:
        negative_sizes = _sizes(level.negatives)
        negatives = _gather(level.negatives, negative_sizes)
        owner = _gather(level.owner + _starts(visual_sizes)[dist.get_rank()], negative_sizes)
    return Level(visual, text[first], inverse[index], unique, negatives, owner)


def _starts(sizes: list[int]) -> list[int]:
    return [sum(sizes[:r]) for r in range(len(sizes))]


def _sizes(x: torch.Tensor) -> list[int]:
    """Every rank's number of rows of `x`."""
    size = torch.tensor([len(x)], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    return [int(s) for s in sizes]


def _gather(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Every rank's `x` (`sizes` rows each) concatenated in rank order, with gradient for floating tensors."""
    return _GatherRows.apply(x, sizes) if x.is_floating_point() else _all_gather_padded(x, sizes)


def _all_gather_padded(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    padded = x.new_zeros((max(1, max(sizes)), *x.shape[1:]))
    padded[: len(x)] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


class _GatherRows(torch.autograd.Function):
    """All-gather of rows in the forward; in the backward, each rank's rows get the sum of every rank's gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        ctx.sizes = sizes
        return _all_gather_padded(x.detach(), sizes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        sizes, rank = ctx.sizes, dist.get_rank()
        padded = grad.new_zeros((len(sizes), max(1, max(sizes)), *grad.shape[1:]))
        for r, part in enumerate(grad.split(sizes)):
            padded[r, : len(part)] = part
        dist.all_reduce(padded)
        return padded[rank, : sizes[rank]], None
