"""The build's lower bound on this machine beside its wall time: how near the limit the default build runs.

    python benchmarks/limit.py --n 1000 --num-cpus 2 [--compare-runtime torch]

One run, three steps on the same rendered sample (rendered outside every timing):
  1. bare costs: the build's stage functions in one process (pipeline.local_build), the detector on one thread,
     each stage's CPU seconds from its own timer (decode, detect, parse, align, encode, write of the parts) and
     the driver's phases (collecting inputs, dedup, compacting the shards) - per image and in all;
  2. the lower bound: their sum divided by the CPUs (no build on this many cores can take less, short of doing
     less work);
  3. the default build on Ray with that many CPUs (start-up included), its wall time beside the bound as a ratio,
     and with --compare-runtime the same build with that detector runtime (e.g. torch, the old one) beside it.
The default build's rows are checked to equal the bare run's (so both did the same work).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import ROOT, render, sample_config  # noqa: E402

DRIVER_PHASES = ("collect_inputs", "dedup", "compact")  # the work of a build outside the stage functions
ACCEPT_RATIO = 1.25  # the default build may take at most this times the lower bound


def with_detectors(cfg, **changes):
    """`cfg` with `changes` made to each of its detectors."""
    return dataclasses.replace(cfg, detectors=tuple(dataclasses.replace(d, **changes) for d in cfg.detectors))


def stage_cpu(stage_seconds: dict[str, float]) -> dict[str, float]:
    """CPU seconds per stage timer (the part writer's `write` included), in the build's stats."""
    return {name.removesuffix("_cpu"): value for name, value in stage_seconds.items() if name.endswith("_cpu")}


def bare_costs(cfg) -> tuple[dict[str, float], int]:
    """CPU seconds per stage and driver phase of `cfg` built in one process, the detector on one thread;
    and the images that went through the stages."""
    import torch

    from pipeline.local_build import build_shards_in_process

    threads = torch.get_num_threads()
    try:
        stats = build_shards_in_process(with_detectors(cfg, cpu_threads=1))
    finally:
        torch.set_num_threads(threads)
    seconds = stage_cpu(stats.stage_seconds)
    seconds |= {phase: stats.phase.seconds[f"{phase}_cpu"] for phase in DRIVER_PHASES}
    return seconds, stats.images


def runtime_of(cfg) -> str:
    return cfg.detectors[0].runtime  # the sample build has one detector


REGION_TOLERANCE = 1e-5  # on boxes and scores: torch's CPU sums differ by thread count (about 1e-7 apart)


def same_rows(a: Path, b: Path) -> bool:
    """Whether two builds' shards hold the same rows, every column but `provenance` compared; regions' boxes and
    scores within REGION_TOLERANCE (the bare run's detector uses one thread, the Ray builds' all cores, and
    torch's float sums depend on how the work is split)."""
    import pyarrow as pa

    def close(x: dict, y: dict) -> bool:
        numbers = [*zip(x["box"], y["box"]), (x["score"], y["score"])]
        rest = {k: v for k, v in x.items() if k not in ("box", "score")}
        return rest == {k: v for k, v in y.items() if k not in ("box", "score")} and all(
            abs(p - q) <= REGION_TOLERANCE for p, q in numbers)

    def same(name: str) -> bool:
        x, y = (pa.ipc.open_stream(root / "shards" / name).read_all().drop_columns(["provenance"]) for root in (a, b))
        regions = [t.column("regions").to_pylist() for t in (x, y)]
        return x.drop_columns(["regions"]).equals(y.drop_columns(["regions"])) and all(
            len(p) == len(q) and all(map(close, p, q)) for p, q in zip(*regions))

    names = sorted(p.name for p in (a / "shards").glob("*.arrow"))
    return bool(names) and names == sorted(p.name for p in (b / "shards").glob("*.arrow")) and all(map(same, names))


def ray_build(cfg) -> tuple[float, float]:
    """Wall seconds of a build on a fresh local Ray, start-up and shut-down of Ray included, and the CPU seconds
    its stage functions spent (the bare stage costs' counterparts; the dedup tasks' CPU is not reported back)."""
    import ray

    from pipeline.build import build

    started = time.perf_counter()
    stats = build(cfg).stats
    ray.shutdown()
    return time.perf_counter() - started, sum(stage_cpu(stats["stage_seconds"]).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="studies of the sample")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--compare-runtime", default="", help="also build with this detector runtime (torch)")
    parser.add_argument("--detector-threads", type=int,
                        help="detector.cpu_threads of the Ray builds (default: the config's)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "limit")
    args = parser.parse_args()

    from annotators import offline

    offline.apply()
    os.environ.setdefault("RAY_worker_niceness", "0")  # as benchmarks/scale.py: Ray's workers at the loop's priority
    out = args.workdir / "builds"
    shutil.rmtree(out, ignore_errors=True)
    base = sample_config(args.workdir, args.n, out / "bare", args.num_cpus)
    print(f"sample of {args.n} studies ready in {render(base):.0f} s (outside the timings); "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)

    seconds, images = bare_costs(base)
    total = sum(seconds.values())
    bound = total / args.num_cpus
    print(f"\nbare costs, one process, detector runtime {runtime_of(base)} on one thread: {images} images")
    print(f"{'step':<16}{'CPU s':>9}{'CPU ms/image':>14}{'share':>8}")
    for step, cpu in seconds.items():
        print(f"{step:<16}{cpu:>9.1f}{1000 * cpu / images:>14.1f}{cpu / total:>8.1%}")
    print(f"{'sum':<16}{total:>9.1f}{1000 * total / images:>14.1f}")
    print(f"lower bound on {args.num_cpus} CPUs: {total:.1f} / {args.num_cpus} = {bound:.1f} s", flush=True)

    runs = {runtime_of(base): out / "ray"}
    if args.compare_runtime:
        runs[args.compare_runtime] = out / f"ray-{args.compare_runtime}"
    walls, cpus = {}, {}
    threads = base.detectors[0].cpu_threads if args.detector_threads is None else args.detector_threads
    for runtime, output in runs.items():
        cfg = with_detectors(dataclasses.replace(base, output=str(output)), runtime=runtime, cpu_threads=threads)
        walls[runtime], cpus[runtime] = ray_build(cfg)
        print(f"Ray build, detector runtime {runtime}: {walls[runtime]:.1f} s, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)

    print(f"\n{'build (Ray, ' + str(args.num_cpus) + ' CPUs)':<30}{'wall s':>8}{'x lower bound':>15}{'speed-up':>10}"
          f"{'stages CPU s':>13}")
    first = walls[runtime_of(base)]
    for runtime, wall in walls.items():
        print(f"{'detector runtime ' + runtime:<30}{wall:>8.1f}{wall / bound:>15.2f}{wall / first:>10.2f}"
              f"{cpus[runtime]:>13.1f}")
    bare_stages = total - sum(seconds[phase] for phase in DRIVER_PHASES)
    print(f"(bare stages: {bare_stages:.1f} CPU s; detector threads in the Ray builds: {threads or 'all cores'})")
    ratio = first / bound
    verdict = "within" if ratio <= ACCEPT_RATIO else "OVER"
    print(f"default build {ratio:.2f}x the lower bound ({verdict} the {ACCEPT_RATIO}x goal)")
    identical = same_rows(out / "bare", runs[runtime_of(base)])
    print(f"default build's rows equal to the bare run's (but for provenance, whose config hash holds cpu_threads, "
          f"boxes and scores within {REGION_TOLERANCE:g}): {identical}")
    print(json.dumps({"n": args.n, "num_cpus": args.num_cpus, "images": images, "cpu_seconds": seconds,
                      "lower_bound_s": bound, "ray_wall_s": walls,
                      "ray_cpu_s": cpus, "identical": identical}))
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
