"""The build's lower bound on this machine beside its wall time: how near the limit the default build runs.

    python benchmarks/limit.py --n 1000 --num-cpus 2 [--compare runtime=torch imgsz=512]

One run, three steps on the same rendered sample (rendered outside every timing):
  1. bare costs: the build's stage functions in one process (pipeline.local_build), each stage's CPU seconds from
     its own timer (decode, detect, parse, align, encode, write of the parts) and the driver's phases (collecting
     inputs, dedup, compacting the shards) - per image and in all; the detector runs on one thread, as in a build;
  2. the lower bound: their sum divided by the CPUs (no build on this many cores can take less, short of doing
     less work);
  3. the default build on Ray with that many CPUs (start-up and shut-down included), its wall time beside the
     bound as a ratio, and with --compare the same build with those detector settings (e.g. the old ones) beside it;
  4. Ray's fixed cost: the wall time of the same build of --fixed-n studies (Ray's start and stop, the workers'
     imports and set-up: what a build pays whatever its size), and the default build less that cost beside the
     bound (what the build's per-image work costs on Ray, against what it must).
The default build's shards are checked to equal the bare run's byte for byte (so both did the same work).
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

from scale import ROOT, render, same_shards, sample_config  # noqa: E402

DRIVER_PHASES = ("collect_inputs", "dedup", "compact")  # the work of a build outside the stage functions
ACCEPT_RATIO = 1.25  # the default build may take at most this times the lower bound


def with_detectors(cfg, **changes):
    """`cfg` with `changes` made to each of its detectors."""
    return dataclasses.replace(cfg, detectors=tuple(dataclasses.replace(d, **changes) for d in cfg.detectors))


def stage_cpu(stage_seconds: dict[str, float]) -> dict[str, float]:
    """CPU seconds per stage timer (the part writer's `write` included), in the build's stats."""
    return {name.removesuffix("_cpu"): value for name, value in stage_seconds.items() if name.endswith("_cpu")}


def bare_costs(cfg) -> tuple[dict[str, float], int]:
    """CPU seconds per stage and driver phase of `cfg` built in one process; and the images that went through the
    stages."""
    from pipeline.local_build import build_shards_in_process

    stats = build_shards_in_process(cfg)
    seconds = stage_cpu(stats.stage_seconds)
    seconds |= {phase: stats.phase.seconds[f"{phase}_cpu"] for phase in DRIVER_PHASES}
    return seconds, stats.images


def detector_settings(cfg) -> str:
    detector = cfg.detectors[0]  # the sample build has one detector
    return f"runtime={detector.runtime} imgsz={detector.imgsz}"


def parse_changes(pairs: list[str]) -> dict:
    """`KEY=VALUE` detector settings, VALUE read as YAML (`imgsz=512` is a number)."""
    import yaml

    return {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in pairs)}


def ray_build(cfg) -> tuple[float, float]:
    """Wall seconds of a build on a fresh local Ray, start-up and shut-down of Ray included, and the CPU seconds
    its stage functions spent (the bare stage costs' counterparts; the dedup tasks' CPU is not reported back)."""
    import ray

    from pipeline.build import build

    started = time.perf_counter()
    stats = build(cfg).stats
    ray.shutdown()
    return time.perf_counter() - started, sum(stage_cpu(stats["stage_seconds"]).values())


def fixed_cost(workdir: Path, n: int, output: Path, num_cpus: int, wall: float, bound: float) -> float | None:
    """Wall seconds of the default build of `n` studies on Ray (None when `n` is 0); printed beside the full
    build's `wall` less that cost, against `bound`."""
    if not n:
        return None
    tiny = sample_config(workdir, n, output, num_cpus)
    render(tiny)
    fixed, _ = ray_build(tiny)
    print(f"fixed cost: the same build of {n} studies took {fixed:.1f} s on Ray; the default build less that: "
          f"{wall - fixed:.1f} s = {(wall - fixed) / bound:.2f}x the lower bound")
    return fixed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="studies of the sample")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--compare", nargs="*", default=[], metavar="KEY=VALUE",
                        help="also build with these detector settings (e.g. runtime=torch imgsz=512, the old ones)")
    parser.add_argument("--fixed-n", type=int, default=10,
                        help="studies of the tiny build that measures Ray's fixed cost (0: skip it)")
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
    print(f"\nbare costs, one process, detector {detector_settings(base)} on one thread: {images} images")
    print(f"{'step':<16}{'CPU s':>9}{'CPU ms/image':>14}{'share':>8}")
    for step, cpu in seconds.items():
        print(f"{step:<16}{cpu:>9.1f}{1000 * cpu / images:>14.1f}{cpu / total:>8.1%}")
    print(f"{'sum':<16}{total:>9.1f}{1000 * total / images:>14.1f}")
    print(f"lower bound on {args.num_cpus} CPUs: {total:.1f} / {args.num_cpus} = {bound:.1f} s", flush=True)

    configs = {"default": dataclasses.replace(base, output=str(out / "ray"))}
    if args.compare:
        configs["compared"] = with_detectors(dataclasses.replace(base, output=str(out / "ray-compared")),
                                             **parse_changes(args.compare))
    walls, cpus = {}, {}
    for name, cfg in configs.items():
        walls[name], cpus[name] = ray_build(cfg)
        print(f"Ray build, detector {detector_settings(cfg)}: {walls[name]:.1f} s, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)

    print(f"\n{'build (Ray, ' + str(args.num_cpus) + ' CPUs)':<36}{'wall s':>8}{'x lower bound':>15}"
          f"{'speed-up':>10}{'stages CPU s':>13}")
    for name, cfg in configs.items():
        print(f"{'detector ' + detector_settings(cfg):<36}{walls[name]:>8.1f}{walls[name] / bound:>15.2f}"
              f"{walls.get('compared', walls['default']) / walls[name]:>10.2f}{cpus[name]:>13.1f}")
    bare_stages = total - sum(seconds[phase] for phase in DRIVER_PHASES)
    print(f"(bare stages: {bare_stages:.1f} CPU s)")
    ratio = walls["default"] / bound
    verdict = "within" if ratio <= ACCEPT_RATIO else "OVER"
    print(f"default build {ratio:.2f}x the lower bound ({verdict} the {ACCEPT_RATIO}x goal)")
    fixed = fixed_cost(args.workdir, args.fixed_n, out / "fixed", args.num_cpus, walls["default"], bound)
    identical = same_shards(out / "bare", out / "ray")
    print(f"default build's shards equal to the bare run's, byte for byte: {identical}")
    print(json.dumps({"n": args.n, "num_cpus": args.num_cpus, "images": images, "cpu_seconds": seconds,
                      "lower_bound_s": bound, "ray_wall_s": walls, "ray_cpu_s": cpus,
                      "detectors": {name: detector_settings(cfg) for name, cfg in configs.items()},
                      "fixed_n": args.fixed_n, "fixed_wall_s": fixed, "identical": identical}))
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
