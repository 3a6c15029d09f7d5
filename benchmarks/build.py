"""Studies per second of a sample build on Ray, beside a plain single-process loop over the same functions.

    .venv/bin/python benchmarks/build.py --n 1000 --num-cpus 2

Both build the shards from the same rendered sample source; the loop (pipeline.local_build) calls the very stage
functions the Ray graph maps. benchmarks/scale.py adds per-stage figures and peak memory (`make bench`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from annotators import offline
from pipeline.build import build, collect_inputs
from pipeline.config import RayConfig, load_config
from pipeline.local_build import build_shards_in_process

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--sample-root", default=str(ROOT / "out" / "sample"))
    args = parser.parse_args()
    offline.apply()
    base = load_config(ROOT / "configs" / "sample.yaml")
    source = dataclasses.replace(base.sources[0], options={**base.sources[0].options, "root": args.sample_root,
                                                           "n": args.n})
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dataclasses.replace(base, sources=(source,), output=f"{tmp}/ray",
                                  ray=RayConfig(num_cpus=args.num_cpus))
        collect_inputs(cfg)  # renders the sample once, outside both timings
        started = time.perf_counter()
        result = build(cfg)
        ray_seconds = time.perf_counter() - started
        started = time.perf_counter()
        build_shards_in_process(dataclasses.replace(cfg, output=f"{tmp}/loop"))
        loop_seconds = time.perf_counter() - started
        same = all((Path(tmp) / "ray" / s["file"]).read_bytes() == (Path(tmp) / "loop" / s["file"]).read_bytes()
                   for s in result.manifest["shards"])
    studies = result.manifest["totals"]["inputs"]
    print(f"sample build, {studies} studies, {args.num_cpus} CPUs (Ray start-up included in the Ray figure)")
    print(f"{'method':<28}{'seconds':>10}{'studies/s':>12}")
    print(f"{'Ray build':<28}{ray_seconds:>10.1f}{studies / ray_seconds:>12.1f}")
    print(f"{'single-process loop':<28}{loop_seconds:>10.1f}{studies / loop_seconds:>12.1f}")
    print(f"speed-up {loop_seconds / ray_seconds:.2f}x; shards identical: {same}")
    print(json.dumps({"studies": studies, "ray_s": ray_seconds, "loop_s": loop_seconds}))


if __name__ == "__main__":
    main()
