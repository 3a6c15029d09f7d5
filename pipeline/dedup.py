"""The corpus-wide step between the stages and compaction: near-duplicate images and templated reports.

1. One Ray task per shard reads its parts (memory-mapped), writes its images' keypoint index keys (from the
   signatures that the encode stage made while it held the pixels: annotators.duplicates), split into as many key
   partitions as there are shards, to files beside the parts, and returns small keys (id, input, keep rank,
   report fingerprint, where its signature is) to the driver.
2. Candidate pairs, a map-reduce through files (pipeline.exchange): one task per key partition counts the keys
   each pair of images shares there (`partition_votes`); one task per shard adds up its images' votes over the
   partitions and picks each image's best partners (`shard_candidates`). No step holds the whole index, so
   memory does not grow with the corpus.
3. Ray tasks check the candidates in detail, grouped by the pair of shards they need (`PAIRS_PER_TASK` at most
   each), each reading the signatures of just its rows from the parts that hold them (memory-mapped where local),
   so the bytes read grow with the candidates, not with the number of shard pairs.
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
from schemas.work import annotated_schema

KEY_COLUMNS = ["id", "source", "source_id", "orig_width", "orig_height", "regions", "report", "signature",
               "reject_reason"]


Place = tuple[str, int]  # a row's part and its place in that part


@dataclass(frozen=True)
class RowKey:
    id: str
    input: tuple[str, str]  # (source, source_id)
    shard: int
    rank: tuple  # annotators.duplicates.keep_rank
    report: str  # report fingerprint
    signature_at: Place


@dataclass(frozen=True)
class DedupResult:
    drops: dict[str, Drop]  # row id -> why it leaves the corpus
    summary: dict  # counts for the manifest


INDEX = pa.schema([("owner", pa.int32()), ("key", pa.uint64())])  # owner: the row's place among its shard's keys
# Candidate pairs per detail-check task (a few tenths of a second): many small tasks keep every CPU busy to the end
# of the step, where one task per pair of shards left one CPU waiting on the largest.
PAIRS_PER_TASK = 256
VOTES = pa.schema([("mine", pa.int32()), ("theirs", pa.int32()), ("count", pa.int32())])  # rows' corpus places


def shard_keys(layout: BuildLayout, shard: int, n_partitions: int) -> list[RowKey]:
    """Keys of the distinct kept rows of one shard's parts, by id; their keypoint index keys, in `n_partitions` key
    partitions, go to `layout.index` (not when `n_partitions` is 0: near-duplicates are off)."""
    table, places = _kept_rows(layout, shard)
    keys = [_row_key(row, shard, place) for row, place in zip(table.drop_columns(["descriptors"]).to_pylist(), places)]
    if n_partitions:
        found = [index_keys(Signature.descriptors_of(row)) for row in table.select(["descriptors"]).to_pylist()]
        index = {"owner": np.repeat(np.arange(len(found), dtype=np.int64), [len(f) for f in found]),
                 "key": np.concatenate([*found, np.zeros(0, np.uint64)])}
        write_partitioned(layout.index(shard), index, INDEX, key_partitions(index["key"], n_partitions), n_partitions)
    return keys


def _kept_rows(layout: BuildLayout, shard: int) -> tuple[pa.Table, list[Place]]:
    """The KEY_COLUMNS of one shard's kept rows, their signatures' descriptors only, each id once (a part written
    again by a resumed build holds the same rows; the last is taken), by id; and where each row is."""
    urls = storage.list_files(layout.parts(shard), ".arrow")
    parts = [read_columns(url, KEY_COLUMNS) for url in urls]
    places = [(url, row) for url, part in zip(urls, parts) for row in range(part.num_rows)]
    table = pa.concat_tables(parts) if parts else annotated_schema().empty_table().select(KEY_COLUMNS)
    table = table.append_column("descriptors", pc.struct_field(table.column("signature"), "descriptors"))
    kept = pc.equal(table.column("reject_reason"), "").to_pylist()
    last = {row_id: place for place, (row_id, ok) in enumerate(zip(table.column("id").to_pylist(), kept)) if ok}
    order = [last[row_id] for row_id in sorted(last)]
    return table.drop_columns(["signature"]).take(pa.array(order, pa.int64())), [places[place] for place in order]


def _row_key(row: dict, shard: int, signature_at: Place) -> RowKey:
    report = row["report"]
    return RowKey(
        id=row["id"],
        input=(row["source"], row["source_id"]),
        shard=shard,
        rank=keep_rank(sum(r["origin"] == "annotation" for r in row["regions"]), row["orig_width"],
                       row["orig_height"], row["source"], row["source_id"], row["id"]),
        report=report_fingerprint(" ".join((report["findings"], report["impression"], report["other"]))),
        signature_at=signature_at,
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


def read_signatures(places: set[Place]) -> dict[Place, Signature]:
    """The signatures at some places of the parts: each part opened once (memory-mapped where local), only the
    rows asked for read out."""
    rows_of: dict[str, list[int]] = {}
    for url, row in sorted(places):
        rows_of.setdefault(url, []).append(row)
    found = {}
    for url, rows in rows_of.items():
        values = read_columns(url, ["signature"]).column("signature").take(pa.array(rows, pa.int64())).to_pylist()
        found.update(((url, row), Signature.from_row(value)) for row, value in zip(rows, values))
    return found


def check_pairs(pairs: list[tuple[Place, Place]]) -> list[float]:
    """Detail agreement of each pair of rows (their signatures' places)."""
    found = read_signatures({place for pair in pairs for place in pair})
    return [detail_agreement(found[a], found[b]) for a, b in pairs]


Runner = Callable[[Callable, list[tuple]], list]  # runs fn(*args) for each args tuple; results in order


def on_ray(fn: Callable, calls: list[tuple]) -> list:
    """Each call as a Ray task, all at once."""
    task = ray.remote(fn)
    return ray.get([task.remote(*args) for args in calls])


def plan_drops(layout: BuildLayout, n_shards: int, cfg: DedupConfig, run: Runner = on_ray) -> DedupResult:
    """Read every shard's keys (their index keys written in parallel), check candidate pairs, decide the drops."""
    n_partitions = n_shards if cfg.near_duplicates else 0  # as many key partitions as shards: each one shard's size
    per_shard = run(shard_keys, [(layout, s, n_partitions) for s in range(n_shards)])
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
        calls = [([(keys[a].signature_at, keys[b].signature_at) for a, b in members],) for _, members in chunks]
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
