"""The build's stages in this one process, without Ray: the baseline the benchmarks hold Ray against, and the way
to write onto a filesystem that no other process sees (fsspec's memory://).

It runs the very stage list pipeline.build maps on Ray (pipeline.stages.build_stages), then
pipeline.dedup.plan_drops with its tasks run here and compact_shard, so its shards equal a Ray build's byte for
byte. It writes the shards and their done markers, not the manifest nor the rejects table (pipeline.build's).
"""
from __future__ import annotations

from pipeline.build import collect_inputs
from pipeline.config import BuildConfig
from pipeline.dedup import plan_drops
from pipeline.executor import Tally, run_in_process
from pipeline.shards import BuildLayout, compact_shard
from pipeline.stage_list import build_stages
from pipeline.stages.decode import work_items
from pipeline.stats import BuildStats


def build_shards_in_process(cfg: BuildConfig, batch_size: int = 64) -> BuildStats:
    """Write the shards of `cfg` under `cfg.output` with a plain loop; returns what it measured."""
    stats, layout = BuildStats(), BuildLayout(cfg.output)
    with stats.phase("collect_inputs"):
        inputs = collect_inputs(cfg)
    with stats.phase("stages"):
        items = work_items(list(inputs.refs), list(inputs.shards))
        run_in_process(build_stages(cfg), items, layout, Tally(stats, cfg.failures), batch_size)
    with stats.phase("dedup"):
        drops = plan_drops(layout, inputs.n_shards, cfg.dedup, run=in_process).drops
    with stats.phase("compact"):
        for shard in range(inputs.n_shards):
            compact_shard(layout, shard, inputs.n_shards, drops)
    return stats


def in_process(fn, calls: list[tuple]) -> list:
    """pipeline.dedup's Runner without Ray: the calls one after another, here."""
    return [fn(*args) for args in calls]
