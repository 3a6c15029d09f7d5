"""RegionMed-CLIP: an image encoder, a text encoder, and the ROI processor that embeds boxes.

    image (B, 1, S, S) -> timm backbone -> pooled (B, C) -> image_proj -> image embedding
                                       -> tokens (B, N, C) on an h x w grid --+
    boxes (R, 4) --------------------------------------------------------------+-> ROIProcessor -> region embedding
    text ids (U, L) -> BERT -> token mean (U, H) -> text_proj -> text embedding (reports and region texts alike)

Every embedding is L2-normalised; two learned temperatures scale the image-text and region-text logits.
Weights come from local files only: `pretrained=True` is used solely with a local checkpoint file.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import timm
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from annotators import offline
from training.config import ConfigError, ModelConfig

offline.apply()

from transformers import AutoConfig, AutoModel, BertConfig, BertModel  # noqa: E402


def _create_backbone(cfg: ModelConfig, image_size: int, load_weights: bool = True) -> nn.Module:
    """The timm backbone; with `image_weights` it keeps their model's pooling, and reads them if `load_weights`."""
    load = cfg.image_weights and load_weights
    weights = {"pretrained": True, "pretrained_cfg_overlay": {"file": cfg.image_weights}} if load else {}
    # From scratch, pool by averaging the patch tokens: a new ViT's class token barely depends on the image,
    # and contrastive training from it stalled at the uniform loss here. A checkpoint keeps its own pooling.
    pool = {} if cfg.image_weights else {"global_pool": "avg"}
    args = {"num_classes": 0, **pool, **cfg.image_encoder_args, **weights}
    try:  # ViT-style models fix their input size at construction
        return timm.create_model(cfg.image_encoder, img_size=image_size, **args)
    except TypeError:  # CNNs take any size and no such argument
        return timm.create_model(cfg.image_encoder, **args)


def check_image_encoder(cfg: ModelConfig, image_size: int) -> None:
    """Build the image encoder on the meta device (no memory, no weights read) and pass it two images of the run's
    size: an unknown name, arguments it does not take, heads that do not divide its width, or images too small for
    its patches or strides are a ConfigError."""
    try:
        with torch.device("meta"):
            backbone = _create_backbone(replace(cfg, image_weights=None), image_size).eval()
            backbone.forward_head(backbone.forward_features(torch.zeros(2, 3, image_size, image_size)))
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:
        raise ConfigError(f"config.model.image_encoder: {cfg.image_encoder!r} with image_encoder_args "
                          f"{cfg.image_encoder_args} and data.image_size {image_size} fails: {exc}") from None


class ImageEncoder(nn.Module):
    """A timm backbone giving a pooled feature and a grid of feature tokens for greyscale uint8 images."""

    def __init__(self, cfg: ModelConfig, image_size: int, load_weights: bool = True):
        super().__init__()
        self.backbone = _create_backbone(cfg, image_size, load_weights)
        data_cfg = timm.data.resolve_data_config({}, model=self.backbone)
        self.register_buffer("mean", torch.tensor(data_cfg["mean"]).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(data_cfg["std"]).view(1, 3, 1, 1) * 255, persistent=False)
        self.width = self.backbone.num_features

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """(pooled (B, C), tokens (B, h*w, C), (h, w))."""
        x = (images.expand(-1, 3, -1, -1).float() - self.mean) / self.std
        features = self.backbone.forward_features(x)
        pooled = self.backbone.forward_head(features, pre_logits=True)
        if features.ndim == 4:  # CNN: (B, C, h, w)
            grid = tuple(features.shape[-2:])
            return pooled, features.flatten(2).transpose(1, 2), grid
        tokens = features[:, self.backbone.num_prefix_tokens :]  # ViT: drop class/register tokens
        return pooled, tokens, tuple(self.backbone.patch_embed.grid_size)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the stem up, one list per block (timm's own grouping)."""
        matcher = self.backbone.group_matcher(coarse=True)
        groups = timm.models.group_parameters(self.backbone, matcher, return_values=True)
        return [groups[k] for k in sorted(groups)]


class TextEncoder(nn.Module):
    """A BERT-style encoder; a text is the mean of its tokens' last hidden states (padding excluded), which
    separates texts from the first step of training from scratch and suits MLM-pretrained weights too."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, max_tokens: int, text_config: dict | None = None):
        """`text_config`: the Hugging Face config of a trained encoder (`self.bert.config.to_dict()`), to build its
        shape alone, with no weights read, for a checkpoint to fill."""
        super().__init__()
        if text_config:
            self.bert = AutoModel.from_config(AutoConfig.for_model(**text_config), add_pooling_layer=False)
        elif cfg.text_model:
            self.bert = AutoModel.from_pretrained(cfg.text_model, local_files_only=True, add_pooling_layer=False)
        else:
            config = BertConfig(
                vocab_size=vocab_size,
                hidden_size=cfg.text_hidden,
                num_hidden_layers=cfg.text_layers,
                num_attention_heads=cfg.text_heads,
                intermediate_size=4 * cfg.text_hidden,
                max_position_embeddings=max(512, max_tokens),
            )
            self.bert = BertModel(config, add_pooling_layer=False)
        self.width = self.bert.config.hidden_size

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Embeddings first, then one list per transformer layer, then whatever follows."""
        def rank(name: str) -> int:
            layer = re.search(r"\.layer\.(\d+)\.", name)
            return int(layer.group(1)) + 1 if layer else (0 if "embeddings" in name else 10**6)

        groups: dict[int, list[nn.Parameter]] = {}
        for name, param in self.bert.named_parameters():
            groups.setdefault(rank(name), []).append(param)
        return [groups[k] for k in sorted(groups)]


class ROIProcessor(nn.Module):
    """Region embeddings from boxes on the image's feature grid.

    1. roi_align pools each box into pool x pool cells of the (channel-reduced) feature map; the cells and
       the box's coordinates make the region's local feature.
    2. The local feature attends (cross-attention) to every token of its own image.
    3. A learned per-channel gate decides how much of that context, plus the image's pooled feature,
       joins the local feature; an MLP and a projection map the result into the shared space.
    """

    def __init__(self, width: int, dim: int, pool: int, heads: int, embed_dim: int):
        super().__init__()
        self.pool, self.heads = pool, heads
        self.reduce = nn.Linear(width, dim)
        self.cells = nn.Linear(pool * pool * dim, dim)
        self.box = nn.Linear(4, dim)
        self.query_norm, self.context_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.query, self.key_value, self.attn_out = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.global_context = nn.Linear(width, dim)
        self.gate = nn.Linear(3 * dim, dim)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, embed_dim, bias=False))

    def cross_attend(self, local: torch.Tensor, tokens: torch.Tensor, region_image: torch.Tensor) -> torch.Tensor:
        """Each region's query attends to the tokens of its own image: (R, dim)."""
        keys, values = self.key_value(self.context_norm(tokens)).chunk(2, dim=-1)  # once per image
        query = self.split_heads(self.query(self.query_norm(local))[:, None])  # (R, H, 1, d)
        attended = F.scaled_dot_product_attention(
            query, self.split_heads(keys[region_image]), self.split_heads(values[region_image])
        )
        return self.attn_out(attended.flatten(1))

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(R, n, dim) -> (R, heads, n, dim / heads)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(
        self,
        pooled: torch.Tensor,
        tokens: torch.Tensor,
        grid: tuple[int, int],
        boxes: torch.Tensor,
        region_image: torch.Tensor,
    ) -> torch.Tensor:
        h, w = grid
        reduced = self.reduce(tokens)  # (B, N, dim)
        feature_map = reduced.transpose(1, 2).unflatten(-1, (h, w))
        rois = torch.cat([region_image[:, None].float(), boxes.float() * boxes.new_tensor([w, h, w, h])], dim=1)
        cells = roi_align(feature_map.float(), rois, self.pool, 1.0, sampling_ratio=2, aligned=True)  # float32 boxes
        local = self.cells(cells.flatten(1)) + self.box(boxes)
        attended = self.cross_attend(local, reduced, region_image)
        scene = self.global_context(pooled)[region_image]
        gate = torch.sigmoid(self.gate(torch.cat([local, attended, scene], dim=-1)))
        fused = local + gate * (attended + scene)
        fused = fused + self.mlp(fused)
        return self.out(fused)


@dataclass
class Embeddings:
    """A batch's L2-normalised embeddings and the logit scales; region fields are None without regions."""

    image: torch.Tensor  # (B, D)
    text: torch.Tensor  # (U, D)
    negatives: torch.Tensor | None  # (M, D)
    regions: torch.Tensor | None  # (R, D)
    region_text: torch.Tensor | None  # (Ur, D)
    scale: torch.Tensor
    region_scale: torch.Tensor


class RegionMedCLIP(nn.Module):
    """Built with `text_config`, a checkpoint's record of its text encoder (`text_config()`), the model takes that
    checkpoint's weights and reads no pretrained ones: `image_weights` and `text_model` may be gone."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, image_size: int, max_tokens: int,
                 text_config: dict | None = None):
        super().__init__()
        self.image = ImageEncoder(cfg, image_size, load_weights=text_config is None)
        self.text = TextEncoder(cfg, vocab_size, max_tokens, text_config)
        self.image_proj = nn.Linear(self.image.width, cfg.embed_dim, bias=False)
        self.text_proj = nn.Linear(self.text.width, cfg.embed_dim, bias=False)
        nn.init.normal_(self.image_proj.weight, std=self.image.width**-0.5)
        nn.init.normal_(self.text_proj.weight, std=self.text.width**-0.5)
        self.roi = (
            ROIProcessor(self.image.width, cfg.roi_dim, cfg.roi_pool, cfg.roi_heads, cfg.embed_dim) if cfg.roi else None
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.region_logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def text_config(self) -> dict:
        """The text encoder's Hugging Face config, which a checkpoint keeps to build the model again."""
        return self.text.bert.config.to_dict()

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text(ids, mask)), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_proj(self.image(images)[0]), dim=-1)

    def encode_regions(
        self, images: torch.Tensor, boxes: torch.Tensor, region_image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(image embeddings (B, D), region embeddings (R, D)); needs the ROI branch."""
        pooled, tokens, grid = self.image(images)
        regions = self.roi(pooled, tokens, grid, boxes, region_image)
        return F.normalize(self.image_proj(pooled), dim=-1), F.normalize(regions, dim=-1)

    def forward(self, batch, with_regions: bool, with_negatives: bool) -> Embeddings:
        """Embed a `training.data.Batch`; regions only when asked and the model has the ROI branch."""
        regions = region_text = negatives = None
        if with_regions and self.roi is not None:
            image, regions = self.encode_regions(batch.images, batch.region_boxes, batch.region_image)
            if len(regions):
                region_text = self.encode_text(batch.region_text_ids, batch.region_text_mask)
        else:
            image = self.encode_image(batch.images)
        if with_negatives and len(batch.negative_ids):
            negatives = self.encode_text(batch.negative_ids, batch.negative_mask)
        return Embeddings(
            image=image,
            text=self.encode_text(batch.text_ids, batch.text_mask),
            negatives=negatives,
            regions=regions,
            region_text=region_text,
            scale=self.logit_scale.exp().clamp(max=100),
            region_scale=self.region_logit_scale.exp().clamp(max=100),
        )

    def freeze(self, fraction: float, train_regions: bool) -> None:
        """Train everything except each encoder's lowest `fraction` of layer groups, and the ROI branch
        unless `train_regions`."""
        for param in self.parameters():
            param.requires_grad_(True)
        for encoder in (self.image, self.text):
            groups = encoder.layer_groups()
            for group in groups[: math.floor(fraction * len(groups))]:
                for param in group:
                    param.requires_grad_(False)
        if not train_regions:
            self.region_logit_scale.requires_grad_(False)
            if self.roi is not None:
                self.roi.requires_grad_(False)
