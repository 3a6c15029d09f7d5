"""Small synthetic shards written through the record schema, for the reader, model and trainer tests.

Each image is dark noise with one or two bright squares; a square's box, label (nodule: small, mass: large)
and text ("nodule in the upper left") are its region, the report names them all, and one absent finding is
negated ("No pleural effusion"). The shards are Arrow IPC streams with the huggingface metadata, as the
build writes them.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from schemas.record import arrow_schema, validate_record

WIDTH, HEIGHT = 120, 96


def square_record(rng: np.random.Generator, index: int) -> dict:
    pixels = rng.integers(0, 40, size=(HEIGHT, WIDTH), dtype=np.uint8)
    regions, phrases = [], []
    for label, side in rng.permutation([("nodule", 12), ("mass", 28)])[: rng.integers(1, 3)]:
        side = int(side)
        x0, y0 = int(rng.integers(0, WIDTH - side)), int(rng.integers(0, HEIGHT - side))
        pixels[y0 : y0 + side, x0 : x0 + side] = 230
        vertical = "upper" if y0 + side / 2 < HEIGHT / 2 else "lower"
        where = f"{vertical} {'left' if x0 + side / 2 < WIDTH / 2 else 'right'}"
        text = f"{label} in the {where}"
        box = [x0 / WIDTH, y0 / HEIGHT, (x0 + side) / WIDTH, (y0 + side) / HEIGHT]
        regions.append(dict(box=box, label=str(label), origin="annotation", score=1.0, text=text, align_score=1.0))
        phrases.append(text)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    split = ("train",) * 6 + ("validation", "test", "test", "test")
    row = {
        "id": f"synthetic-{index:05d}",
        "source": "synthetic",
        "source_id": str(index),
        "patient_key": f"p{index:05d}",
        "split": split[index % len(split)],
        "modality": "DX",
        "view": "PA",
        "image": {"bytes": png.getvalue(), "path": None},
        "width": WIDTH,
        "height": HEIGHT,
        "orig_width": WIDTH,
        "orig_height": HEIGHT,
        "acquisition": {"body_part": "CHEST", "pixel_spacing": [], "frame": -1},
        "report": {"findings": ". ".join(phrases), "impression": "", "other": ""},
        "global_text": "chest film with " + " and ".join(phrases),
        "regions": regions,
        "descriptions": [
            dict(text=p, label=r["label"], laterality="", zone="", region=i, align_score=1.0)
            for i, (p, r) in enumerate(zip(phrases, regions))
        ],
        "negatives": [str(rng.choice(["No pleural effusion", "There is no pneumothorax", "No cardiomegaly"]))],
        "license": "CC0-1.0",
        "phash": "0" * 16,
        "provenance": {"input_sha256": "0" * 64, "pipeline_version": "test", "config_sha256": "0" * 64},
    }
    assert validate_record(row) == []
    return row


def write_synthetic_shards(folder: Path, rows: int, shards: int, seed: int = 0) -> Path:
    """`rows` records in `shards` Arrow stream files under folder/shards; returns `folder`."""
    rng = np.random.default_rng(seed)
    return write_records(folder, [square_record(rng, i) for i in range(rows)], shards)


def write_records(folder: Path, records: list[dict], shards: int = 1) -> Path:
    """`records` in `shards` Arrow stream files under folder/shards; returns `folder`."""
    (folder / "shards").mkdir(parents=True)
    for k, part in enumerate(np.array_split(np.arange(len(records)), shards)):
        table = pa.Table.from_pylist([records[i] for i in part], schema=arrow_schema())
        with pa.OSFile(str(folder / "shards" / f"part-{k:05d}.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=7)  # several record batches per file
    return folder


def write_edited_corpus(folder: Path, edit: Callable[[dict], None], rows: int = 40) -> Path:
    """`rows` synthetic records (24 train), each changed in place by `edit`, in one shard under folder/shards."""
    rng = np.random.default_rng(0)
    records = [square_record(rng, i) for i in range(rows)]
    for record in records:
        edit(record)
    return write_records(folder, records)


def broken_png() -> bytes:
    """A PNG whose second IDAT chunk has a garbled type, as random bytes in a shard make one: PIL opens it, and
    raises SyntaxError as it loads the pixels."""
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)).save(png, format="PNG")
    data = png.getvalue()
    second = data.index(b"IDAT", data.index(b"IDAT") + 4)
    return data[:second] + b"\xb7\xf0Vh" + data[second + 4 :]


@pytest.fixture(scope="session")
def edited_corpus():
    """`edited_corpus(folder, edit, rows=40)` -> a corpus folder of synthetic records changed by `edit`."""
    return write_edited_corpus


@pytest.fixture(scope="session")
def damaged_png() -> bytes:
    return broken_png()


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory) -> Path:
    """200 synthetic records in 3 shards (120 train, 20 validation, 60 test)."""
    return write_synthetic_shards(tmp_path_factory.mktemp("synthetic_corpus"), rows=200, shards=3)


def make_tiny_config(out_dir: Path, shards: Path, **changes):
    """A config small enough to train in seconds on a CPU: 64 px ViT of 2 blocks, BERT of 2 layers."""
    from training.config import Config, from_dict, validate

    data = {
        "out_dir": str(out_dir),
        "device": "cpu",
        "data": {
            "shards": [str(shards)],
            "image_size": 64,
            "batch_size": 8,
            "num_workers": 0,
            "max_text_tokens": 48,
            "max_region_text_tokens": 16,
            "hard_negatives": 1,
        },
        "tokenizer": {"vocab_size": 600},
        "model": {
            "image_encoder": "vit_tiny_patch16_224",
            "image_encoder_args": {"patch_size": 8, "depth": 2, "embed_dim": 64, "num_heads": 2},
            "text_hidden": 64,
            "text_layers": 2,
            "text_heads": 2,
            "embed_dim": 32,
            "roi_dim": 32,
            "roi_pool": 2,
            "roi_heads": 2,
        },
        "stages": [
            {"name": "global", "steps": 3, "lr": 2e-3},
            {"name": "region", "steps": 3, "lr": 2e-3, "region_weight": 1.0, "freeze_fraction": 0.5},
            {"name": "joint", "steps": 3, "lr": 1e-3, "region_weight": 1.0},
        ],
        "log": {"every": 1, "checkpoint_every": 100},
        **changes,
    }
    return validate(from_dict(Config, data))


@pytest.fixture(scope="session")
def tiny_config():
    """`tiny_config(out_dir, shards, **top_level_changes)` -> a validated Config."""
    return make_tiny_config
