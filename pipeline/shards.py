"""Parts, shards and the manifest.

Stages stream rows into *parts* (`.build/parts/shard-K/<hash>.arrow`, each written atomically); once every input
is in a part, each shard is *compacted*: its parts are read, de-duplicated by id, sorted by id and written as one
Arrow IPC stream file. Shard names and bytes depend only on the rows, never on timing, so a rebuild or a resumed
build gives the same bytes. A `done/shard-K.json` marker records each finished shard and its rejects.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import stats, storage
from schemas.record import arrow_schema, reject_arrow_schema
from schemas.work import INTERNAL_ERROR, REJECT_COLUMNS, STAGE_SECONDS, annotated_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildLayout:
    """Where a build's files go under its output folder (a path or URL)."""

    output: str

    @property
    def work(self) -> str:
        return storage.join(self.output, ".build")

    def parts(self, shard: int) -> str:
        return storage.join(self.work, "parts", f"shard-{shard:05d}")

    def index(self, shard: int) -> str:
        return storage.join(self.work, "index", f"shard-{shard:05d}.arrow")

    def votes(self, partition: int) -> str:
        return storage.join(self.work, "votes", f"partition-{partition:05d}.arrow")

    def marker(self, shard: int) -> str:
        return storage.join(self.work, "done", f"shard-{shard:05d}.json")

    @property
    def state(self) -> str:
        return storage.join(self.work, "state.json")

    @property
    def shards(self) -> str:
        return storage.join(self.output, "shards")

    @property
    def manifest(self) -> str:
        return storage.join(self.output, "manifest.json")

    @property
    def rejects(self) -> str:
        return storage.join(self.output, "rejects.arrow")


def stream_bytes(table: pa.Table, schema: pa.Schema) -> bytes:
    """An Arrow IPC stream of `table` in one record batch: the same rows always give the same bytes."""
    sink = io.BytesIO()
    table = table.select(schema.names).cast(schema).combine_chunks()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table, max_chunksize=max(1, table.num_rows))
    return sink.getvalue()


def read_stream(url: str) -> pa.Table:
    return pa.ipc.open_stream(storage.read_bytes(url)).read_all()


def read_columns(url: str, columns: list[str]) -> pa.Table:
    """Some columns of an Arrow IPC stream file; a local file is memory-mapped, so the others are never read."""
    with storage.open_arrow(url) as source:
        return pa.Table.from_batches([batch.select(columns) for batch in pa.ipc.open_stream(source)])


PART_SUMMARY = pa.schema([("shard", pa.int32()), ("inputs", pa.float64()), ("rejects", pa.int64()),
                          ("rows", pa.int64()), ("inputs_by_node", pa.map_(pa.string(), pa.float64())),
                          ("failures", pa.map_(pa.string(), pa.int64())), ("seconds", STAGE_SECONDS)])


def write_parts(batch: pa.Table, layout: BuildLayout) -> pa.Table:
    """Write a batch of annotated rows as one part per shard; return per part how many inputs it completes, on
    which nodes they were decoded, the rows each stage failed on and the seconds its rows took per stage
    (PART_SUMMARY)."""
    summary = []
    for shard in sorted(set(batch.column("shard").to_pylist())):
        clock = stats.StageClock()
        with clock(stats.WRITE):
            part = batch.filter(pc.equal(batch.column("shard"), shard))
            ids = sorted(part.column("id").to_pylist())
            name = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
            data = stream_bytes(part, annotated_schema())
            storage.write_bytes(storage.join(layout.parts(shard), f"{name}.arrow"), data)
        expected = part.column("expected").to_pylist()
        failed = Counter(stage for stage, reason in zip(part.column("reject_stage").to_pylist(),
                                                         part.column("reject_reason").to_pylist())
                         if reason and reason.startswith(INTERNAL_ERROR))
        summary.append({
            "shard": shard,
            "inputs": sum(1.0 / e for e in expected),
            "rejects": sum(1 for r in part.column("reject_reason").to_pylist() if r),
            "rows": part.num_rows,
            "inputs_by_node": stats.inputs_by_node(part),
            "failures": sorted(failed.items()),
            "seconds": sorted({**stats.summed_seconds(part), **clock.seconds}.items()),
        })
    return pa.Table.from_pylist(summary, schema=PART_SUMMARY)


def completed_inputs(layout: BuildLayout, shard: int) -> set[tuple[str, str]]:
    """(source, source_id) of the inputs all of whose images are already in this shard's parts; a row a stage
    failed on does not count, so a resumed build (after the fix) does that input again. A part that cannot be read
    (cut short by a full disk or a copy) is removed, and its inputs are done again."""
    seen: dict[tuple[str, str], set[str]] = {}
    expected: dict[tuple[str, str], int] = {}
    for url in storage.list_files(layout.parts(shard), ".arrow"):
        try:
            table = read_stream(url).select(["id", "source", "source_id", "expected", "reject_reason"])
        except (pa.ArrowInvalid, OSError) as exc:
            log.warning("%s cannot be read (%s): its inputs are done again", url, exc)
            storage.remove_tree(url)
            continue
        for row in table.to_pylist():
            if (row["reject_reason"] or "").startswith(INTERNAL_ERROR):
                continue
            key = (row["source"], row["source_id"])
            seen.setdefault(key, set()).add(row["id"])
            expected[key] = row["expected"]
    return {key for key, ids in seen.items() if len(ids) >= expected[key]}


@dataclass(frozen=True)
class Drop:
    """A row moved to the rejects by a decision that needs the whole corpus (near-duplicates)."""

    stage: str
    reason: str
    detail: str


def compact_shard(layout: BuildLayout, shard: int, n_shards: int, drops: dict[str, Drop]) -> dict:
    """Merge a shard's parts into its final file and write its done marker; returns the marker."""
    kept = [name for name in annotated_schema().names if name != "signature"]  # what compaction reads of parts
    tables = [read_columns(url, kept) for url in storage.list_files(layout.parts(shard), ".arrow")]
    table = pa.concat_tables(tables) if tables else annotated_schema().empty_table().select(kept)
    failed = pc.starts_with(pc.fill_null(table.column("reject_reason"), ""), INTERNAL_ERROR)
    table = table.append_column("failed", failed).sort_by([("id", "ascending"), ("failed", "ascending")])
    table = table.drop_columns(["failed"])  # of one id's rows, one that no stage failed on comes first
    ids = table.column("id").to_pylist()
    first = [i for i, row_id in enumerate(ids) if i == 0 or ids[i - 1] != row_id]
    table = table.take(pa.array(first, pa.int64()))  # typed: an empty list would be a null array

    rows = table.select(["id", "source", "source_id", "input", *REJECT_COLUMNS]).to_pylist()
    rejects, keep = [], []
    for index, row in enumerate(rows):
        drop = drops.get(row["id"]) if not row["reject_reason"] else None
        if row["reject_reason"] or drop:
            stage, reason, detail = (drop.stage, drop.reason, drop.detail) if drop else (
                row["reject_stage"], row["reject_reason"], row["reject_detail"])
            rejects.append({"source": row["source"], "source_id": row["source_id"], "input": row["input"],
                            "stage": stage, "reason": reason, "detail": detail})
        else:
            keep.append(index)
    records = table.take(pa.array(keep, pa.int64()))
    inputs = [list(key) for key in sorted({(row["source"], row["source_id"]) for row in rows})]
    marker = {"shard": shard, "rows": records.num_rows, "rejects": rejects, "inputs": inputs,
              "sources": _source_counts(records, rejects)}
    if records.num_rows:
        data = stream_bytes(records, arrow_schema())
        name = f"data-{shard:05d}-of-{n_shards:05d}.arrow"
        storage.write_bytes(storage.join(layout.shards, name), data)
        marker.update(file=f"shards/{name}", sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    storage.write_bytes(layout.marker(shard), json.dumps(marker, sort_keys=True).encode())
    return marker


def _source_counts(records: pa.Table, rejects: list[dict]) -> dict:
    rows = Counter(records.column("source").to_pylist())
    rejected = Counter(r["source"] for r in rejects)
    return {s: {"rows": rows[s], "rejects": rejected[s]} for s in sorted(set(rows) | set(rejected))}


def write_rejects(layout: BuildLayout, rejects: list[dict]) -> dict:
    """The build's rejects table (Arrow stream, sorted); returns its manifest entry."""
    ordered = sorted(rejects, key=lambda r: (r["source"], r["source_id"], r["input"], r["stage"], r["reason"]))
    data = stream_bytes(pa.Table.from_pylist(ordered, schema=reject_arrow_schema()), reject_arrow_schema())
    storage.write_bytes(layout.rejects, data)
    return {"file": "rejects.arrow", "rows": len(ordered), "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data)}
