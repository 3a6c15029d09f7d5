"""The contrastive losses of RegionMed-CLIP.

One InfoNCE serves both levels. Visual items (images, or regions) are rows; the batch's *distinct* texts are
columns, and `index[i]` names row i's text. Several rows may share a text (two regions both labelled
"right lung", two images of one report): visual-to-text is then an ordinary cross-entropy, and text-to-visual
maximises the probability of the whole set of rows that share the text (MIL-NCE), so a repeated text is never
a false negative.

Hard negatives (what the report negates, affirmed: "No pleural effusion" -> "pleural effusion", false of the
image) add columns to visual-to-text for their own image only.

Under DDP both levels are computed over the global batch: every rank's rows and texts (training.gather).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from training.gather import Level, gather_level

if TYPE_CHECKING:
    from training.model import Embeddings


def info_nce(
    visual: torch.Tensor,
    text: torch.Tensor,
    index: torch.Tensor,
    scale: torch.Tensor,
    negatives: torch.Tensor | None = None,
    negative_owner: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE of visual rows (N, D) against distinct texts (U, D), row i matching text index[i]."""
    logits = scale * visual @ text.T  # (N, U)
    visual_logits = logits
    if negatives is not None:
        negative_logits = scale * visual @ negatives.T  # (N, M); each row sees only its own negatives
        own = negative_owner[None, :] == torch.arange(len(visual), device=visual.device)[:, None]
        visual_logits = torch.cat([logits, negative_logits.masked_fill(~own, float("-inf"))], dim=1)
    visual_to_text = F.cross_entropy(visual_logits.float(), index)
    text_logits = logits.T.float()  # (U, N)
    positive = F.one_hot(index, len(text)).T.bool()
    text_to_visual = (text_logits.logsumexp(1) - text_logits.masked_fill(~positive, float("-inf")).logsumexp(1)).mean()
    return (visual_to_text + text_to_visual) / 2


@dataclass
class Losses:
    total: torch.Tensor
    global_: torch.Tensor  # image-report
    region: torch.Tensor  # region-region text; 0 when not trained


def level_loss(level: Level, scale: torch.Tensor) -> torch.Tensor:
    """InfoNCE of `level` over the global batch (every DDP rank's rows: training.gather)."""
    gathered = gather_level(level)
    if not len(gathered.visual):  # no rows anywhere: an empty sum keeps the branch in the graph
        return level.visual.sum()
    return info_nce(gathered.visual, gathered.text, gathered.index, scale, gathered.negatives, gathered.owner)


def clip_losses(out: Embeddings, batch, region_weight: float) -> Losses:
    """Global image-report InfoNCE plus `region_weight` times region-text InfoNCE over the batch's regions."""
    images = Level(out.image, out.text, batch.text_index, batch.text_keys, out.negatives, batch.negative_owner)
    global_ = level_loss(images, out.scale)
    region = out.image.new_zeros(())
    if out.regions is not None:
        regions = Level(out.regions, out.region_text, batch.region_text_index, batch.region_text_keys)
        region = level_loss(regions, out.region_scale)
    return Losses(total=global_ + region_weight * region, global_=global_, region=region)
