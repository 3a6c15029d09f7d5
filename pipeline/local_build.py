"""The build's stages in this one process, without Ray: the baseline the benchmarks hold Ray against, and the way
to write onto a filesystem that no other process sees (fsspec's memory://).

It calls the very functions pipeline.build maps on Ray (decode_batch, the detector's DetectStage, annotate_batch,
write_parts, the steps of pipeline.dedup.plan_drops, compact_shard), so its shards equal a Ray build's byte for
byte. It writes the shards and their done markers, not the manifest nor the rejects table (pipeline.build's).
"""
from __future__ import annotations

import pyarrow as pa

from annotators.duplicates import DedupConfig, candidate_pairs, keep_first
from pipeline.build import collect_inputs, stage_settings
from pipeline.config import BuildConfig
from pipeline.dedup import DedupResult, check_pairs, decide, shard_signatures
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
    detect = DetectStage(cfg.detector) if cfg.detector.weights else None
    items = [work_item(ref, shard) for ref, shard in zip(inputs.refs, inputs.shards)]
    with stats.phase("stages"):
        for start in range(0, len(items), batch_size):
            decoded = decode_batch(pa.Table.from_pylist(items[start:start + batch_size]), decode)
            decoded = detect(decoded) if detect else decoded
            stats.add(write_parts(annotate_batch(decoded, annotate), layout))
    with stats.phase("dedup"):
        drops = plan_drops_in_process(layout, inputs.n_shards, cfg.dedup).drops
    with stats.phase("compact"):
        for shard in range(inputs.n_shards):
            compact_shard(layout, shard, inputs.n_shards, drops)
    return stats


def plan_drops_in_process(layout: BuildLayout, n_shards: int, cfg: DedupConfig) -> DedupResult:
    """pipeline.dedup.plan_drops with its Ray tasks run here, one after another."""
    per_shard = [shard_signatures(layout, shard) for shard in range(n_shards)]
    keys = [key for shard_keys, _ in per_shard for key in shard_keys]
    signatures = {row_id: sig for _, by_id in per_shard for row_id, sig in by_id.items()}
    found = []
    if cfg.near_duplicates:
        pairs = candidate_pairs([key.index for key in keys], cfg.candidates_per_image)
        agreements = check_pairs([(keys[a].id, keys[b].id) for a, b in pairs], signatures, signatures)
        verified = {pair: agreement for pair, agreement in zip(pairs, agreements) if agreement >= cfg.min_agreement}
        found = keep_first([key.rank for key in keys], [key.input for key in keys], verified)
    return decide(keys, found, cfg)
