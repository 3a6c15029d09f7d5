"""The build's stages in this one process, without Ray: the baseline the benchmarks hold Ray against, and the way
to write onto a filesystem that no other process sees (fsspec's memory://).

It calls the very functions pipeline.build maps on Ray (decode_batch, the detector's DetectStage, annotate_batch,
write_parts, pipeline.dedup.plan_drops with its tasks run here, compact_shard), so its shards equal a Ray
build's byte for byte. It writes the shards and their done markers, not the manifest nor the rejects table
(pipeline.build's).
"""
from __future__ import annotations

import pyarrow as pa

from pipeline.build import collect_inputs, stage_settings
from pipeline.config import BuildConfig
from pipeline.dedup import plan_drops
from pipeline.detect import DetectStage
from pipeline.shards import BuildLayout, compact_shard, write_parts
from pipeline.stages import annotate_batch, decode_batch, work_item
from pipeline.stats import BuildStats


def build_shards_in_process(cfg: BuildConfig, batch_size: int = 64) -> BuildStats:
    """Write the shards of `cfg` under `cfg.output` with a plain loop; returns what it measured."""
    stats, layout = BuildStats(), BuildLayout(cfg.output)
    with stats.phase("collect_inputs"):
        inputs = collect_inputs(cfg)
    decode, annotate = stage_settings(cfg)
    detectors = [DetectStage(config) for config in cfg.detectors]
    items = [work_item(ref, shard) for ref, shard in zip(inputs.refs, inputs.shards)]
    with stats.phase("stages"):
        for start in range(0, len(items), batch_size):
            decoded = decode_batch(pa.Table.from_pylist(items[start:start + batch_size]), decode)
            for detect in detectors:
                decoded = detect(decoded)
            stats.add(write_parts(annotate_batch(decoded, annotate), layout))
    with stats.phase("dedup"):
        drops = plan_drops(layout, inputs.n_shards, cfg.dedup, run=in_process).drops
    with stats.phase("compact"):
        for shard in range(inputs.n_shards):
            compact_shard(layout, shard, inputs.n_shards, drops)
    return stats


def in_process(fn, calls: list[tuple]) -> list:
    """pipeline.dedup's Runner without Ray: the calls one after another, here."""
    return [fn(*args) for args in calls]
