"""The shard reader: corpus rows -> augmented, tokenised batches for RegionMed-CLIP.

Reads the build's Arrow IPC stream shards (memory-mapped, zero-copy) or a Hub-layout folder's Parquet files.
`ShardDataset` is a torch `IterableDataset` that assembles whole batches inside the loader workers:

- the rows of one split are permuted per epoch with the run's seed, then dealt to ranks (`order[rank::world]`,
  cut to the same length on every rank) and cut into batches;
- training batches are numbered across epochs (g = epoch * batches_per_epoch + b); worker w of W makes
  batches start + w, start + w + W, ..., so DataLoader's round robin hands them out in order and "batches
  consumed" is the whole data position a checkpoint needs;
- a sample's augmentation draws from a generator seeded by (seed, epoch, shard, row): no worker state.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from schemas.record import arrow_schema
from training.augment import augment, resize, swap_sides
from training.config import ConfigError, DataConfig
from training.tokenizer import encode

END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # what closes an Arrow IPC stream: continuation, length 0
COLUMNS = ("id", "split", "image", "global_text", "regions", "negatives", "provenance")  # the columns training reads
# what decoding a damaged image can raise: PIL's OSError (truncated, unidentified), SyntaxError (a broken PNG chunk),
# ValueError, EOFError, struct.error and zlib.error from its parsers, DecompressionBombError
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)


def shard_files(paths: list[str]) -> list[Path]:
    """The shard files under each path: a build folder (the shards its manifest lists: a stray copy in shards/ is
    not read), a Hub-layout folder (data/**/*.parquet), a folder of .arrow/.parquet files, or a file itself. A path
    that holds none is an error, so that a mistyped one of several is not left out."""
    if not paths:
        raise FileNotFoundError("no shard folder or file given (data.shards is empty)")
    return [file for path in map(Path, paths) for file in _shards_under(path)]


def _shards_under(path: Path) -> list[Path]:
    if not path.exists():
        raise FileNotFoundError(f"no shard file or folder at {path}")
    if path.is_file():
        return [path]
    if (path / "manifest.json").is_file():
        found = [path / entry["file"] for entry in json.loads((path / "manifest.json").read_text())["shards"]]
    elif (path / "shards").is_dir():
        found = sorted((path / "shards").glob("*.arrow"))
    elif (path / "data").is_dir():
        found = _hub_files(path / "data")
    else:
        found = sorted([*path.glob("*.arrow"), *path.glob("*.parquet")])
    if not found:
        raise FileNotFoundError(f"no .arrow or .parquet shards under {path} (a build whose every input was "
                                "rejected has none)")
    return found


def _hub_files(data: Path) -> list[Path]:
    """The Parquet files of a Hub layout's data/; FileNotFoundError when a split lacks one of its numbered files
    (`<split>-KKKKK-of-NNNNN.parquet`: a download that stopped)."""
    found = sorted(data.rglob("*.parquet"))
    numbered: dict[tuple[Path, str, int], set[int]] = {}
    for file in found:
        if match := re.fullmatch(r"(.+)-(\d+)-of-(\d+)\.parquet", file.name):
            numbered.setdefault((file.parent, match[1], int(match[3])), set()).add(int(match[2]))
    for (folder, split, total), present in numbered.items():
        if missing := sorted(set(range(total)) - present):
            raise FileNotFoundError(f"{folder} lacks {len(missing)} of the {total} files of {split!r}, e.g. "
                                    f"{split}-{missing[0]:05d}-of-{total:05d}.parquet: a download that stopped?")
    return found


def check_columns(files: list[Path]) -> None:
    """Refuse shards that cannot be read, Arrow streams cut short (they read as fewer rows), and shards that lack a
    column training reads or hold it with another type than the record schema (schemas.record), before any row is
    read."""
    for path in files:
        problems = _column_problems(_schema(path), arrow_schema())
        if problems:
            raise ConfigError(f"shard {path} does not follow the record schema (schemas.record): {'; '.join(problems)}")


def _schema(path: Path) -> pa.Schema:
    with _reading(path):
        if path.suffix == ".parquet":
            return pq.read_schema(path)  # from the footer, which a file cut short lacks
        with pa.memory_map(str(path)) as source:
            schema = pa.ipc.open_stream(source).schema
            source.seek(max(0, source.size() - len(END_OF_STREAM)))
            if source.read() != END_OF_STREAM:
                raise ConfigError(f"shard {path} ends before its end-of-stream marker: cut short, its last rows lost")
            return schema


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A shard that is missing, cut short or not Arrow or Parquet as a ConfigError that names it."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"shard {path} cannot be read ({type(exc).__name__}: {exc})") from None


def check_unique_ids(files: list[Path]) -> None:
    """Refuse a row found twice, by its id and the keyed digest of its input: the same rows given twice (a build and
    its published copy, two builds of the same inputs) would be trained on twice, and could sit in two splits."""
    seen: dict[tuple[str, str], Path] = {}
    for path in files:
        table = open_table(path, ("id", "provenance"))
        for key in zip(table["id"].to_pylist(), pc.struct_field(table["provenance"], "input_sha256").to_pylist()):
            if key in seen:
                raise ConfigError(f"row {key[0]!r} is in {seen[key]} and in {path}: the same rows given twice (a "
                                  "build and its published copy, or two builds of the same inputs)")
            seen[key] = path


def _column_problems(schema: pa.Schema, record: pa.Schema) -> list[str]:
    problems = []
    for name in COLUMNS:
        if name not in schema.names:
            problems.append(f"no column {name!r}")
        elif not schema.field(name).type.equals(record.field(name).type):
            problems.append(f"column {name!r} is {schema.field(name).type}, the record's is {record.field(name).type}")
    return problems


def check_manifest(paths: list[str], record: Path | None = None) -> None:
    """Refuse a build's shard whose size or sha256 differs from its entry in the build's manifest.json (damaged or
    changed since the build): one read of the shards, before the first step. `record` (a file of the run folder)
    keeps the shards found sound with their file stamps: a restart of the run does not read again a shard whose
    stamp and manifest digest are the ones recorded, only those new or changed since."""
    known = _read_record(record) if record else {}
    for folder in map(Path, paths):
        if not (folder / "manifest.json").is_file():
            continue
        for entry in json.loads((folder / "manifest.json").read_text())["shards"]:
            path = folder / entry["file"]
            key, seen = str(path.resolve()), [_file_stamp(path), entry["sha256"]]
            if known.get(key) == seen:
                continue
            problem = _differs_from_manifest(path, entry)
            if problem:
                raise ConfigError(f"shard {path}: {problem}: damaged or changed since the build "
                                  f"(`medregion verify {folder}` checks the whole build)")
            known[key] = seen
    if record:
        record.parent.mkdir(parents=True, exist_ok=True)
        written = record.with_name(f".{record.name}.tmp")
        written.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
        written.replace(record)  # whole or not at all: a run killed here keeps the record of its last start


def _read_record(record: Path) -> dict:
    """`check_manifest`'s record; empty when there is none or it does not parse (every shard is read again)."""
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _file_stamp(path: Path) -> str:
    """What changes when a file is written or replaced: "size:mtime_ns:device:inode"."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_dev}:{stat.st_ino}"


def _differs_from_manifest(path: Path, entry: dict) -> str | None:
    """How a shard differs from its manifest entry (its size, else its sha256); None when it does not."""
    size = path.stat().st_size
    if size != entry["bytes"]:
        return f"{size} bytes, the manifest says {entry['bytes']}"
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return None if digest == entry["sha256"] else "its sha256 is not the one in the manifest"


def warn_about_gaps(files: list[Path], split: str, region_stages: list[str]) -> None:
    """Warn when no row of `split` has a report text, or when none has a region while `region_stages` train
    regions: the run would align images with one empty text, or train its region stages on the global loss alone.
    A split without rows is left to ShardDataset's error."""
    rows = reports = regions = 0
    for path in files:
        table = open_table(path, ("split", "global_text", "regions"))
        table = table.filter(pc.equal(table["split"], split))
        rows += table.num_rows
        reports += pc.sum(pc.greater(pc.utf8_length(table["global_text"]), 0)).as_py() or 0
        regions += pc.sum(pc.list_value_length(table["regions"])).as_py() or 0
    if not rows:
        return
    if not reports:
        warnings.warn(f"split {split!r} has no report text (global_text): every image is aligned with the same empty "
                      "text", stacklevel=2)
    if region_stages and not regions:
        warnings.warn(f"split {split!r} has no regions: the stages {region_stages} train the global loss alone and "
                      "the ROI branch learns nothing", stacklevel=2)


def open_table(path: Path, columns: tuple[str, ...] = COLUMNS) -> pa.Table:
    """A shard as a table: Arrow streams memory-mapped (no copy), Parquet read column-wise."""
    with _reading(path):
        if path.suffix == ".parquet":
            return pq.read_table(path, columns=list(columns), memory_map=True)
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_stream(source).read_all().select(list(columns))


def split_rows(files: list[Path], split: str) -> np.ndarray:
    """(file index, row index) of every row of `split`, in file order: shape (n, 2)."""
    parts = []
    for i, path in enumerate(files):
        rows = np.flatnonzero(pc.equal(open_table(path, ("split",))["split"], split).to_numpy(zero_copy_only=False))
        parts.append(np.stack([np.full_like(rows, i), rows], axis=1))
    return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)


def corpus_texts(files: list[Path], split: str) -> Iterator[str]:
    """Every text of one split (reports, region texts and labels, negatives): a tokenizer's training corpus."""
    for path in files:
        table = open_table(path, ("split", "global_text", "regions", "negatives"))
        table = table.filter(pc.equal(table["split"], split))
        regions = pc.list_flatten(table["regions"]).combine_chunks()
        negatives = pc.list_flatten(table["negatives"])
        for column in (table["global_text"], regions.field("text"), regions.field("label"), negatives):
            yield from (text for text in column.to_pylist() if text)


_LEADING_NEGATION = re.compile(
    r"^\s*(?:there (?:is|are) )?(?:no (?:evidence|signs?) of|negative for|free of|absence of|without|no|not)\s+",
    re.IGNORECASE,
)
_TRAILING_NEGATION = re.compile(r"\s+(?:is|are) (?:not (?:seen|identified|present)|absent)\W*$", re.IGNORECASE)


def affirmed(statement: str) -> str | None:
    """A negated statement without its negation ("No pleural effusion" -> "pleural effusion"): a text that is
    false of the image, i.e. a hard negative. None when no negation cue is found."""
    for cue in (_LEADING_NEGATION, _TRAILING_NEGATION):
        stripped = cue.sub("", statement, count=1).strip(" .;,")
        if stripped and stripped != statement.strip(" .;,"):
            return stripped
    return None


def region_text(region: dict) -> str:
    """What a region is aligned to: its aligned descriptions, else its label as words."""
    return region["text"] or region["label"].replace("_", " ")


def text_key(text: str) -> int:
    """A stable id for a text (the same in every process), used to find repeated texts."""
    return zlib.crc32(" ".join(text.lower().split()).encode())


def unique_index(texts: list[str]) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """The distinct texts (by `text_key`), for every input the index of its distinct text, and the distinct
    texts' keys (which find a text repeated on another rank: training.gather)."""
    first: dict[int, int] = {}
    index = [first.setdefault(text_key(t), len(first)) for t in texts]
    unique = [""] * len(first)
    for text, i in zip(texts, index):
        unique[i] = unique[i] or text
    return unique, torch.tensor(index, dtype=torch.long), torch.tensor(list(first), dtype=torch.long)


@dataclass
class Batch:
    """One batch: B images, their R regions, and the distinct texts each points into."""

    ids: list[str]  # B record ids
    images: torch.Tensor  # uint8 (B, 1, S, S)
    text_ids: torch.Tensor  # (U, L) distinct report texts
    text_mask: torch.Tensor
    text_index: torch.Tensor  # (B,) image -> its report among the U
    text_keys: torch.Tensor  # (U,) the reports' `text_key`s
    region_boxes: torch.Tensor  # float (R, 4), normalised (x0, y0, x1, y1)
    region_image: torch.Tensor  # (R,) region -> its image in the batch
    region_labels: list[str]  # R
    region_text_ids: torch.Tensor  # (Ur, Lr) distinct region texts
    region_text_mask: torch.Tensor
    region_text_index: torch.Tensor  # (R,) region -> its text among the Ur
    region_text_keys: torch.Tensor  # (Ur,) the region texts' `text_key`s
    negative_ids: torch.Tensor  # (M, L) hard-negative statements
    negative_mask: torch.Tensor
    negative_owner: torch.Tensor  # (M,) negative -> the image it must not match
    position: int  # training: the batch's number across epochs; eval: -1

    def _map_tensors(self, fn) -> Batch:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: fn(v) for k, v in values.items() if isinstance(v, torch.Tensor)})

    def to(self, device: torch.device) -> Batch:
        return self._map_tensors(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        return self._map_tensors(torch.Tensor.pin_memory)


class ShardDataset(IterableDataset):
    """Batches of one split, split without overlap across ranks and loader workers.

    `train=True`: endless, shuffled per epoch, augmented, at most `max_regions` per image, the last partial
    batch of an epoch dropped. `train=False`: one pass in file order, no augmentation, every region.
    """

    def __init__(
        self,
        files: list[Path],
        split: str,
        cfg: DataConfig,
        tokenizer,
        *,
        train: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        batch_size: int | None = None,
    ):
        self.files, self.cfg, self.tokenizer, self.train = files, cfg, tokenizer, train
        self.seed, self.rank, self.world_size, self.start = seed, rank, world_size, start
        self.max_regions = cfg.max_regions if train else None  # evaluation sees every region
        self.batch_size = batch_size or cfg.batch_size
        self.rows = split_rows(files, split)
        self.per_rank = len(self.rows) // world_size
        self.batches_per_epoch = self.per_rank // self.batch_size if train else -(-len(self.rows) // self.batch_size)
        if self.batches_per_epoch == 0:
            raise ConfigError(
                f"split {split!r} has {len(self.rows)} rows: too few for batch {self.batch_size} x {world_size} ranks "
                "(a split's name as the corpus writes it: train, validation, test)"
            )
        self._tables: dict[int, pa.Table] = {}

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _tables={})  # each worker maps the files itself

    def rank_order(self, epoch: int) -> np.ndarray:
        """Indices into `rows` that this rank reads in `epoch` (all rows in file order when not training)."""
        if not self.train:
            return np.arange(len(self.rows))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))
        return order[self.rank :: self.world_size][: self.per_rank]

    def batch_numbers(self) -> Iterator[int]:
        """The batch numbers this loader worker makes, in order (endless when training)."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        numbers = itertools.count(self.start + worker, workers)
        return numbers if self.train else itertools.takewhile(lambda n: n < self.batches_per_epoch, numbers)

    def __iter__(self) -> Iterator[Batch]:
        order, order_epoch = None, -1
        for number in self.batch_numbers():
            epoch, b = divmod(number, self.batches_per_epoch)
            if epoch != order_epoch:
                order, order_epoch = self.rank_order(epoch), epoch
            picked = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield self.make_batch(self.rows[picked], epoch, number if self.train else -1)

    def read_rows(self, rows: np.ndarray) -> list[dict]:
        """The records at (file, row) pairs, in the order given."""
        out: list[dict | None] = [None] * len(rows)
        for file_id in np.unique(rows[:, 0]):
            at = np.flatnonzero(rows[:, 0] == file_id)
            if file_id not in self._tables:
                self._tables[file_id] = open_table(self.files[file_id])
            for i, record in zip(at, self._tables[file_id].take(rows[at, 1]).to_pylist()):
                out[i] = record
        return out

    def prepare(
        self, record: dict, shard: Path, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, list[dict], str, list[str]]:
        """One record of `shard` -> (pixels, regions with moved boxes, report text, negatives), augmented when `rng`."""
        try:
            image = Image.open(io.BytesIO(record["image"]["bytes"]))
            image.load()
        except DECODE_ERRORS as exc:  # a shard damaged on disk: say which record
            raise ConfigError(f"record {record['id']!r} of shard {shard}: its image cannot be decoded "
                              f"({type(exc).__name__}: {exc})") from None
        regions = sorted(record["regions"], key=lambda r: (not r["text"], -r["score"]))
        regions = regions if self.max_regions is None else regions[: self.max_regions]
        boxes = np.array([r["box"] for r in regions], dtype=np.float32).reshape(-1, 4)
        negatives = [n for n in map(affirmed, record["negatives"] or []) if n]
        if rng is None:
            pixels = resize(image, self.cfg.image_size)
            regions = [dict(r, text=region_text(r)) for r in regions]
            return pixels, regions, record["global_text"] or "", negatives[: self.cfg.hard_negatives]
        out = augment(image, boxes, rng, self.cfg.augment, self.cfg.image_size)
        side = swap_sides if out.flipped else str
        regions = [
            dict(r, box=box.tolist(), text=side(region_text(r)), label=side(r["label"]))
            for r, box in zip(itertools.compress(regions, out.kept), out.boxes)
        ]
        negatives = [side(negatives[i]) for i in rng.permutation(len(negatives))[: self.cfg.hard_negatives]]
        return out.pixels, regions, side(record["global_text"] or ""), negatives

    def make_batch(self, rows: np.ndarray, epoch: int, position: int) -> Batch:
        records = self.read_rows(rows)
        pixels, reports, regions, region_image, negatives, owners = [], [], [], [], [], []
        for i, (record, (file_id, row)) in enumerate(zip(records, rows)):
            rng = np.random.default_rng([self.seed, epoch, int(file_id), int(row)]) if self.train else None
            image, kept, report, negs = self.prepare(record, self.files[file_id], rng)
            pixels.append(image)
            reports.append(report)
            regions += kept
            region_image += [i] * len(kept)
            negatives += negs
            owners += [i] * len(negs)
        texts, text_index, text_keys = unique_index(reports)
        text_ids, text_mask = self.encode(texts, self.cfg.max_text_tokens)
        region_texts, region_text_index, region_text_keys = unique_index([r["text"] for r in regions])
        region_text_ids, region_text_mask = self.encode(region_texts, self.cfg.max_region_text_tokens)
        negative_ids, negative_mask = self.encode(negatives, self.cfg.max_text_tokens)
        return Batch(
            ids=[r["id"] for r in records],
            images=torch.from_numpy(np.stack(pixels))[:, None],
            text_ids=text_ids,
            text_mask=text_mask,
            text_index=text_index,
            text_keys=text_keys,
            region_boxes=torch.tensor([r["box"] for r in regions], dtype=torch.float32).reshape(-1, 4),
            region_image=torch.tensor(region_image, dtype=torch.long),
            region_labels=[r["label"] for r in regions],
            region_text_ids=region_text_ids,
            region_text_mask=region_text_mask,
            region_text_index=region_text_index,
            region_text_keys=region_text_keys,
            negative_ids=negative_ids,
            negative_mask=negative_mask,
            negative_owner=torch.tensor(owners, dtype=torch.long),
            position=position,
        )

    def encode(self, texts: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not texts:
            empty = torch.zeros((0, 1), dtype=torch.long)
            return empty, empty.clone()
        return encode(self.tokenizer, texts, max_tokens)
