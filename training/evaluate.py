"""Evaluate a trained RegionMed-CLIP run on held-out shards.

- image <-> report retrieval, R@1/5/10 each way (a query hits when any item with the same text is in its top k);
- region -> region-text retrieval, R@1/5/10 against the split's distinct region texts. A model without the
  ROI branch (`--no-roi`) embeds a region as its crop, resized and passed through the image encoder: the
  usual way a global-only CLIP is asked about regions;
- zero-shot classification with prompt templates (the mean of each label's prompt embeddings): over images
  for the finding labels (top-1 accuracy on images with a finding, mean one-vs-rest AUC), and over regions
  for every box label present (top-1 accuracy).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torchvision.ops import roi_align

from schemas.labels import ANATOMY, FINDINGS
from training.config import Config, from_dict
from training.data import Batch, ShardDataset, check_columns, check_unique_ids, shard_files
from training.model import RegionMedCLIP
from training.tokenizer import encode, load_tokenizer
from training.train import Checkpoints, build_model, choose_attention_kernels

KS = (1, 5, 10)


@dataclass
class Gallery:
    """Distinct texts (keyed by their token ids) and their embeddings, filled batch by batch."""

    keys: dict[tuple, int] = field(default_factory=dict)
    embeddings: list[torch.Tensor] = field(default_factory=list)

    def add(self, ids: torch.Tensor, mask: torch.Tensor, embeddings: torch.Tensor) -> list[int]:
        """Gallery index of every text row given."""
        out = []
        for row_ids, row_mask, emb in zip(ids, mask, embeddings):
            key = tuple(row_ids[row_mask.bool()].tolist())
            if key not in self.keys:
                self.keys[key] = len(self.keys)
                self.embeddings.append(emb)
            out.append(self.keys[key])
        return out

    def matrix(self, dim: int) -> torch.Tensor:
        return torch.stack(self.embeddings) if self.embeddings else torch.zeros((0, dim))


@dataclass
class SplitEmbeddings:
    images: torch.Tensor  # (N, D)
    image_text: torch.Tensor  # (N,) index into texts
    texts: torch.Tensor  # (T, D) distinct reports
    regions: torch.Tensor  # (R, D)
    region_text: torch.Tensor  # (R,) index into region_texts
    region_texts: torch.Tensor  # (Tr, D) distinct region texts
    region_labels: list[str]
    region_image: torch.Tensor  # (R,) index into images


def load_run(run_dir: Path, device: torch.device) -> tuple[RegionMedCLIP, object, Config]:
    """The newest checkpoint's model (eval mode), the run's tokenizer and its config."""
    found = Checkpoints(run_dir, keep=1).newest_readable()
    if found is None:
        raise FileNotFoundError(f"no readable checkpoint under {run_dir}/checkpoints: not a training run folder, or "
                                "one that stopped before its first checkpoint")
    checkpoint = found[1]
    cfg = from_dict(Config, checkpoint["config"])
    tokenizer = load_tokenizer(run_dir / "tokenizer")
    model = build_model(cfg, len(tokenizer), checkpoint)  # needs no pretrained weights: the run folder is enough
    return model.to(device).eval(), tokenizer, cfg


def region_crops(images: torch.Tensor, boxes: torch.Tensor, region_image: torch.Tensor) -> torch.Tensor:
    """Each box cut out of its image and resized to the image size: (R, 1, S, S) uint8."""
    size = images.shape[-1]
    rois = torch.cat([region_image[:, None].float(), boxes * size], dim=1)
    crops = roi_align(images.float(), rois, size, 1.0, sampling_ratio=2, aligned=True)
    return crops.round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def embed_batch(model: RegionMedCLIP, batch: Batch, crop_chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(image embeddings, region embeddings) of one batch, by the ROI branch or else by crops."""
    if model.roi is not None:
        return model.encode_regions(batch.images, batch.region_boxes, batch.region_image)
    crops = region_crops(batch.images, batch.region_boxes, batch.region_image)
    regions = [model.encode_image(chunk) for chunk in crops.split(crop_chunk)]
    empty = torch.zeros((0, model.image_proj.out_features), device=crops.device)
    return model.encode_image(batch.images), torch.cat(regions) if regions else empty


@torch.no_grad()
def embed_split(model: RegionMedCLIP, dataset: ShardDataset, device: torch.device) -> SplitEmbeddings:
    texts, region_texts = Gallery(), Gallery()
    images, image_text, regions, region_text, labels, region_image = [], [], [], [], [], []
    seen = 0
    for batch in dataset:
        batch = batch.to(device)
        image_emb, region_emb = embed_batch(model, batch)
        images.append(image_emb.cpu())
        index = texts.add(batch.text_ids, batch.text_mask, model.encode_text(batch.text_ids, batch.text_mask).cpu())
        image_text += [index[i] for i in batch.text_index.tolist()]
        if len(batch.region_boxes):
            emb = model.encode_text(batch.region_text_ids, batch.region_text_mask).cpu()
            index = region_texts.add(batch.region_text_ids, batch.region_text_mask, emb)
            region_text += [index[i] for i in batch.region_text_index.tolist()]
            regions.append(region_emb.cpu())
            region_image.append(batch.region_image.cpu() + seen)
        labels += batch.region_labels
        seen += len(batch.ids)
    dim = model.image_proj.out_features
    return SplitEmbeddings(
        images=torch.cat(images),
        image_text=torch.tensor(image_text),
        texts=texts.matrix(dim),
        regions=torch.cat(regions) if regions else torch.zeros((0, dim)),
        region_text=torch.tensor(region_text, dtype=torch.long),
        region_texts=region_texts.matrix(dim),
        region_labels=labels,
        region_image=torch.cat(region_image) if region_image else torch.zeros(0, dtype=torch.long),
    )


def recall_at_k(similarity: torch.Tensor, positive: torch.Tensor, prefix: str) -> dict[str, float]:
    """R@k for query rows of `similarity` (Q, G): a hit when any `positive` gallery item is in the top k."""
    metrics = {}
    for k in KS:
        top = similarity.topk(min(k, similarity.shape[1]), dim=1).indices
        metrics[f"{prefix}_R@{k}"] = positive.gather(1, top).any(dim=1).float().mean().item()
    return metrics


@torch.no_grad()
def label_embeddings(
    model: RegionMedCLIP, tokenizer, labels: list[str], templates: list[str], device, max_tokens: int
) -> torch.Tensor:
    """One embedding per label: the normalised mean of its prompts' embeddings."""
    out = []
    for label in labels:
        prompts = [t.format(label.replace("_", " ")) for t in templates]
        ids, mask = encode(tokenizer, prompts, max_tokens)
        out.append(F.normalize(model.encode_text(ids.to(device), mask.to(device)).mean(0), dim=-1).cpu())
    return torch.stack(out)


def zero_shot(emb: SplitEmbeddings, model: RegionMedCLIP, tokenizer, cfg: Config, device) -> dict[str, float]:
    metrics: dict[str, float] = {}

    def embed(labels: list[str]) -> torch.Tensor:
        return label_embeddings(model, tokenizer, labels, cfg.eval.templates, device, cfg.data.max_text_tokens)

    findings = [label for label in FINDINGS if label != "other" and label in emb.region_labels]
    if findings:
        truth = np.zeros((len(emb.images), len(findings)), dtype=bool)
        for image, label in zip(emb.region_image.tolist(), emb.region_labels):
            if label in findings:
                truth[image, findings.index(label)] = True
        scores = (emb.images @ embed(findings).T).numpy()
        with_finding = truth.any(axis=1)
        top = scores.argmax(axis=1)
        metrics["zeroshot_image_accuracy"] = float(truth[np.arange(len(top)), top][with_finding].mean())
        both = [j for j in range(len(findings)) if 0 < truth[:, j].sum() < len(truth)]  # AUC needs both classes
        aucs = [roc_auc_score(truth[:, j], scores[:, j]) for j in both]
        if aucs:
            metrics["zeroshot_image_auc"] = float(np.mean(aucs))
        metrics["zeroshot_image_labels"] = len(findings)
    box_labels = [label for label in FINDINGS + ANATOMY if label != "other" and label in emb.region_labels]
    if len(box_labels) > 1:
        keep = [i for i, label in enumerate(emb.region_labels) if label in box_labels]
        predicted = (emb.regions[keep] @ embed(box_labels).T).argmax(dim=1).tolist()
        metrics["zeroshot_region_accuracy"] = float(
            np.mean([box_labels[p] == emb.region_labels[i] for p, i in zip(predicted, keep)])
        )
        metrics["zeroshot_region_labels"] = len(box_labels)
    return metrics


def evaluate(
    run_dir: str | Path, shards: list[str] | None = None, split: str | None = None, device: str = "auto"
) -> dict[str, float]:
    """All metrics of the run's newest checkpoint on `split` (default: the config's eval split)."""
    run_dir = Path(run_dir)
    dev = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    model, tokenizer, cfg = load_run(run_dir, dev)
    choose_attention_kernels(cfg, dev)
    split = split or cfg.data.eval_split
    files = shard_files(shards or cfg.data.shards)
    check_columns(files)
    check_unique_ids(files)
    dataset = ShardDataset(files, split, cfg.data, tokenizer, train=False, batch_size=cfg.eval.batch_size)
    emb = embed_split(model, dataset, dev)
    image_hits = emb.image_text[:, None] == torch.arange(len(emb.texts))[None, :]
    metrics: dict[str, float] = {"images": len(emb.images), "reports": len(emb.texts)}
    metrics |= recall_at_k(emb.images @ emb.texts.T, image_hits, "image_to_text")
    metrics |= recall_at_k(emb.texts @ emb.images.T, image_hits.T, "text_to_image")
    metrics |= {"regions": len(emb.regions), "region_texts": len(emb.region_texts)}
    if len(emb.regions):
        region_hits = emb.region_text[:, None] == torch.arange(len(emb.region_texts))[None, :]
        metrics |= recall_at_k(emb.regions @ emb.region_texts.T, region_hits, "region_to_text")
    metrics |= zero_shot(emb, model, tokenizer, cfg, dev)
    (run_dir / f"eval_{split}.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def format_metrics(metrics: dict[str, float]) -> str:
    """One aligned line per metric."""
    width = max(map(len, metrics))
    return "\n".join(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}"
                     for k, v in metrics.items())
