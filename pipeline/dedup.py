"""The corpus-wide step between the stages and compaction: near-duplicate images and templated reports.

1. One Ray task per shard reads its parts (memory-mapped), writes the images' signatures (annotators.duplicates,
   made by the encode stage while it held the pixels; copied as the bytes they are) in id order and their keypoint
   index keys, split into as many key partitions as there are shards, to files beside the parts, and returns small
   keys (id, input, keep rank, report fingerprint) to the driver.
2. Candidate pairs, a map-reduce through files (pipeline.exchange): one task per key partition counts the keys
   each pair of images shares there (`partition_votes`); one task per shard adds up its images' votes over the
   partitions and picks each image's best partners (`shard_candidates`). No step holds the whole index, so
   memory does not grow with the corpus.
3. Ray tasks check the candidates in detail, grouped by the pair of shards they need (`PAIRS_PER_TASK` at most
   each), each reading from those two shards' signature files just the record batches that hold its rows, so the
   bytes read grow with the candidates, not with the number of shard pairs.
4. The driver applies the keep rule. Near-duplicates become `Drop`s for `compact_shard`; reports shared word
   for word by several inputs (templated normal reports) are counted for the manifest, not dropped.
Every step runs in a fixed order on the same parts, so a resumed build makes the same decisions.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from annotators.duplicates import (
    DedupConfig,
    NearDuplicate,
    Signature,
    Votes,
    detail_agreement,
    index_keys,
    keep_first,
    keep_rank,
    key_partitions,
    shared_key_votes,
    top_partners,
)
from annotators.quality import report_fingerprint, shared_fingerprints
from pipeline import storage
from pipeline.exchange import read_partition, write_partitioned
from pipeline.shards import BuildLayout, Drop, read_columns
from schemas.work import SIGNATURE, annotated_schema

KEY_COLUMNS = ["id", "source", "source_id", "orig_width", "orig_height", "regions", "report", "signature",
               "reject_reason"]


@dataclass(frozen=True)
class RowKey:
    id: str
    input: tuple[str, str]  # (source, source_id)
    shard: int
    rank: tuple  # annotators.duplicates.keep_rank
    report: str  # report fingerprint


@dataclass(frozen=True)
class DedupResult:
    drops: dict[str, Drop]  # row id -> why it leaves the corpus
    summary: dict  # counts for the manifest


SIGNATURES = pa.schema(list(SIGNATURE))
SIGNATURE_BATCH = 16  # rows per record batch of a signature file: a pair check reads only the batches it needs
INDEX = pa.schema([("owner", pa.int32()), ("key", pa.uint64())])  # owner: the row's place among its shard's keys
# Candidate pairs per detail-check task (a few tenths of a second): many small tasks keep every CPU busy to the end
# of the step, where one task per pair of shards left one CPU waiting on the largest.
PAIRS_PER_TASK = 256
VOTES = pa.schema([("mine", pa.int32()), ("theirs", pa.int32()), ("count", pa.int32())])  # rows' corpus places


def shard_signatures(layout: BuildLayout, shard: int, n_partitions: int) -> list[RowKey]:
    """Keys of the distinct kept rows of one shard's parts, by id; their signatures go to `layout.signatures`, their
    keypoint index keys, in `n_partitions` key partitions, to `layout.index` (none of it when `n_partitions` is 0:
    near-duplicates are off). The signatures stay Arrow buffers from the memory-mapped parts to the file."""
    table = _kept_rows(layout, shard)
    keys = [_row_key(row, shard) for row in table.drop_columns(["signature"]).to_pylist()]
    if n_partitions:
        signatures = table.column("signature")
        write_signatures(layout.signatures(shard), signatures)
        found = [index_keys(np.frombuffer(row, np.uint8).reshape(-1, 32))
                 for row in pc.struct_field(signatures, "descriptors").to_pylist()]
        index = {"owner": np.repeat(np.arange(len(found), dtype=np.int64), [len(f) for f in found]),
                 "key": np.concatenate([*found, np.zeros(0, np.uint64)])}
        write_partitioned(layout.index(shard), index, INDEX, key_partitions(index["key"], n_partitions), n_partitions)
    return keys


def _kept_rows(layout: BuildLayout, shard: int) -> pa.Table:
    """The KEY_COLUMNS of one shard's kept rows, each id once (a part written again by a resumed build holds the
    same rows; the last is taken), by id."""
    parts = [read_columns(url, KEY_COLUMNS) for url in storage.list_files(layout.parts(shard), ".arrow")]
    table = pa.concat_tables(parts) if parts else annotated_schema().empty_table().select(KEY_COLUMNS)
    table = table.filter(pc.equal(table.column("reject_reason"), ""))
    last = {row_id: place for place, row_id in enumerate(table.column("id").to_pylist())}
    return table.take(pa.array([last[row_id] for row_id in sorted(last)], pa.int64()))


def _row_key(row: dict, shard: int) -> RowKey:
    report = row["report"]
    return RowKey(
        id=row["id"],
        input=(row["source"], row["source_id"]),
        shard=shard,
        rank=keep_rank(sum(r["origin"] == "annotation" for r in row["regions"]), row["orig_width"],
                       row["orig_height"], row["source"], row["source_id"], row["id"]),
        report=report_fingerprint(" ".join((report["findings"], report["impression"], report["other"]))),
    )


def partition_votes(layout: BuildLayout, partition: int, offsets: list[int]) -> None:
    """The keys each pair of rows shares within one key partition, read from every shard's index and written to
    `layout.votes`, split by the shard of `mine`. `offsets[s]`: the corpus place of shard s's first row."""
    found = [read_partition(layout.index(shard), partition) for shard in range(len(offsets) - 1)]
    owners = np.concatenate([part["owner"] + offset for part, offset in zip(found, offsets)])
    votes = shared_key_votes(owners, np.concatenate([part["key"] for part in found]))
    shard_of = np.searchsorted(offsets, votes.mine, side="right") - 1
    write_partitioned(layout.votes(partition), vars(votes), VOTES, shard_of, len(offsets) - 1)


def shard_candidates(layout: BuildLayout, shard: int, n_partitions: int, per_image: int) -> np.ndarray:
    """Candidate pairs (corpus places) chosen by the rows of one shard: their votes added over every partition."""
    found = [read_partition(layout.votes(partition), shard) for partition in range(n_partitions)]
    return top_partners(Votes.concat([Votes(**part) for part in found]), per_image)


def write_signatures(url: str, signatures: pa.ChunkedArray | pa.StructArray) -> None:
    """One shard's signatures (SIGNATURE structs of `Signature.to_row`'s bytes, as the parts hold them), in row
    order, as an Arrow IPC file of `SIGNATURE_BATCH`-row record batches."""
    table = pa.Table.from_struct_array(signatures)
    with storage.atomic_write(url) as handle, pa.ipc.new_file(handle, SIGNATURES) as writer:
        writer.write_table(table, max_chunksize=SIGNATURE_BATCH)


def read_signatures(url: str, rows: set[int]) -> dict[int, Signature]:
    """The signatures of some rows (places in their shard) of a `write_signatures` file: only their batches are read."""
    found = {}
    with storage.open_arrow(url) as source:
        reader = pa.ipc.open_file(source)
        for number in sorted({row // SIGNATURE_BATCH for row in rows}):
            first = number * SIGNATURE_BATCH
            found.update((first + i, Signature.from_row(values)) for i, values in
                         enumerate(reader.get_batch(number).to_pylist()) if first + i in rows)
    return found


def check_pairs(layout: BuildLayout, shards: tuple[int, int], pairs: list[tuple[int, int]]) -> list[float]:
    """Detail agreement of each (row of shard `shards[0]`, row of shard `shards[1]`) pair (rows: places in their
    shard); each shard's file opened once."""
    wanted: dict[int, set[int]] = {}
    for shard, rows in zip(shards, zip(*pairs)):
        wanted.setdefault(shard, set()).update(rows)
    found = {shard: read_signatures(layout.signatures(shard), rows) for shard, rows in wanted.items()}
    return [detail_agreement(found[shards[0]][a], found[shards[1]][b]) for a, b in pairs]


Runner = Callable[[Callable, list[tuple]], list]  # runs fn(*args) for each args tuple; results in order


def on_ray(fn: Callable, calls: list[tuple]) -> list:
    """Each call as a Ray task, all at once."""
    task = ray.remote(fn)
    return ray.get([task.remote(*args) for args in calls])


def plan_drops(layout: BuildLayout, n_shards: int, cfg: DedupConfig, run: Runner = on_ray) -> DedupResult:
    """Read every shard's keys (their signatures written in parallel), check candidate pairs, decide the drops."""
    n_partitions = n_shards if cfg.near_duplicates else 0  # as many key partitions as shards: each one shard's size
    per_shard = run(shard_signatures, [(layout, s, n_partitions) for s in range(n_shards)])
    keys = [key for shard_keys in per_shard for key in shard_keys]
    found: list[NearDuplicate] = []
    if cfg.near_duplicates:
        offsets = np.cumsum([0, *map(len, per_shard)]).tolist()
        run(partition_votes, [(layout, p, offsets) for p in range(n_partitions)])
        chosen = run(shard_candidates, [(layout, s, n_partitions, cfg.candidates_per_image) for s in range(n_shards)])
        pairs = np.unique(np.concatenate([*chosen, np.zeros((0, 2), np.int64)]), axis=0).tolist()
        groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for a, b in pairs:
            groups.setdefault((keys[a].shard, keys[b].shard), []).append((a, b))
        chunks = [(shards, members[start:start + PAIRS_PER_TASK]) for shards, members in sorted(groups.items())
                  for start in range(0, len(members), PAIRS_PER_TASK)]
        calls = [(layout, (sa, sb), [(a - offsets[sa], b - offsets[sb]) for a, b in members])
                 for (sa, sb), members in chunks]
        verified = {pair: agreement for (_, members), agreements in zip(chunks, run(check_pairs, calls))
                    for pair, agreement in zip(members, agreements) if agreement >= cfg.min_agreement}
        found = keep_first([k.rank for k in keys], [k.input for k in keys], verified)
    return decide(keys, found, cfg)


def decide(keys: list[RowKey], found: list[NearDuplicate], cfg: DedupConfig) -> DedupResult:
    """The drops and the manifest summary from the keys and the near-duplicates found among them."""
    drops = {keys[d.index].id: Drop("dedup", "near_duplicate",
                                    f"copy of {keys[d.kept].id} (detail agreement {d.agreement:.2f})") for d in found}
    shared = shared_fingerprints([(k.report, k.input) for k in keys if k.id not in drops])
    summary = {
        "near_duplicates": {
            "enabled": cfg.near_duplicates,
            "min_agreement": cfg.min_agreement,
            "rows_dropped": len(found),
            "rows_kept_with_copies": len({d.kept for d in found}),
        },
        "templated_reports": {
            "reports": len(shared),
            "inputs": sum(shared.values()),
            "largest": max(shared.values(), default=0),
        },
    }
    return DedupResult(drops, summary)
