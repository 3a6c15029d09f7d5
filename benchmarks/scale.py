"""`make bench`: a synthetic corpus of N studies built on Ray, with per-stage throughput, the peak memory of the
whole Ray job, and the end-to-end rate beside a single-process loop over the same stage functions, in one run.

    .venv/bin/python benchmarks/scale.py --n 10000 --compare-n 1000 --num-cpus 2

It renders the sample source at N and at --compare-n (outside every timing), builds both on a fresh local Ray
while a thread samples the memory of the driver and every process under it (Ray's GCS, raylet, object store and
workers), then builds --compare-n again with pipeline.local_build (no Ray) and checks that its shards equal the
Ray build's byte for byte. Stage timings come from the timers inside the stage functions (pipeline.stats).
Ray lowers its workers' priority (nice 15) by default; here they run at the loop's priority (RAY_worker_niceness=0)
so that, on a machine shared with other work, the two are held to the same terms.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3
FLAT_LIMIT = 1.3  # peak memory at N may be at most this times the peak at --compare-n


class MemorySampler:
    """Peak memory of this process and all its descendants, sampled in a background thread.

    PSS (proportional set size) counts a page shared by k processes as 1/k in each, so the sum over processes
    is the job's real footprint, object store included; the sum of RSS, which counts shared pages once per
    process, is kept beside it. Reading PSS makes the kernel walk each process's page tables: 62 to 71 ms of CPU
    per sample over a local Ray's 10 processes here. So the sampler waits at least `COST_FACTOR` times what its
    last sample cost, and spends at most 1/COST_FACTOR of one CPU whatever the job, rather than taking it from
    the build it measures.
    """

    COST_FACTOR = 30

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = interval_s
        self.cpu_s = 0.0  # CPU seconds the sampling thread spent
        self.peak_pss = self.peak_rss = 0
        self.peak_processes = 0
        self.samples: list[tuple[float, int]] = []  # (perf_counter, PSS)
        self.loads: list[float] = []  # the machine's 1-minute load average at each sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        wait = self.interval_s
        while not self._stop.wait(wait):
            started = time.thread_time()
            self._sample()
            cost = time.thread_time() - started
            self.cpu_s += cost
            wait = max(self.interval_s, self.COST_FACTOR * cost)

    def _sample(self) -> None:
        me = psutil.Process()
        pss = rss = count = 0
        for process in [me, *me.children(recursive=True)]:
            try:
                info = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss, rss, count = pss + info.pss, rss + info.rss, count + 1
        self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, count)
        self.samples.append((time.perf_counter(), pss))
        self.loads.append(os.getloadavg()[0])


@dataclass
class Run:
    label: str
    studies: int
    wall_s: float
    stats: dict
    memory: MemorySampler
    output: Path

    started: float  # perf_counter at the start of the build

    @property
    def rate(self) -> float:
        return self.studies / self.wall_s

    def peak_by_phase(self) -> dict[str, int]:
        """Peak PSS within each phase of the build (phases run one after another, in the order recorded)."""
        peaks, start = {}, self.started
        for name, seconds in self.stats["phases"].items():
            if name.endswith("_cpu"):
                continue
            inside = [pss for t, pss in self.memory.samples if start <= t <= start + seconds]
            peaks[name], start = max(inside, default=0), start + seconds
        return peaks


def sample_config(workdir: Path, n: int, output: Path, num_cpus: int):
    from pipeline.config import RayConfig, load_config

    base = load_config(ROOT / "configs" / "sample.yaml")
    options = {**base.sources[0].options, "root": str(workdir / f"sample-{n}"), "n": n}
    source = dataclasses.replace(base.sources[0], options=options)
    return dataclasses.replace(base, sources=(source,), output=str(output), ray=RayConfig(num_cpus=num_cpus))


def render(cfg) -> float:
    """Render the sample source of `cfg` unless it is already there; seconds taken."""
    from connectors.sample.generate import ensure

    started = time.perf_counter()
    options = cfg.sources[0].options
    ensure(options["root"], options["n"], options["seed"])
    return time.perf_counter() - started


def ray_run(cfg) -> Run:
    """A build on a fresh local Ray (started and stopped inside the timing and the memory sampling)."""
    import ray

    from pipeline.build import build

    with MemorySampler() as memory:
        started = time.perf_counter()
        result = build(cfg)
        wall = time.perf_counter() - started
        ray.shutdown()
    studies = result.manifest["totals"]["inputs"]
    return Run(f"Ray, {cfg.ray.num_cpus} CPUs", studies, wall, result.stats, memory, Path(cfg.output), started)


def loop_run(cfg) -> Run:
    from pipeline.local_build import build_shards_in_process

    with MemorySampler() as memory:
        started = time.perf_counter()
        stats = build_shards_in_process(cfg)
        wall = time.perf_counter() - started
    studies = round(sum(stats.inputs_by_node.values()))
    return Run("single-process loop", studies, wall, stats.to_dict(), memory, Path(cfg.output), started)


def same_shards(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in (a / "shards").glob("*.arrow"))
    return names == sorted(p.name for p in (b / "shards").glob("*.arrow")) and all(
        (a / "shards" / n).read_bytes() == (b / "shards" / n).read_bytes() for n in names)


def print_stages(run: Run, cpus: int) -> None:
    """Per stage: wall seconds in the stage functions and their share of the wall time the stages phase offered
    (its length times the CPUs), images per wall second, and CPU seconds per image (what a stage costs)."""
    seconds = run.stats["stage_seconds"]
    stages = [name for name in seconds if not name.endswith("_cpu")]  # by name
    offered = run.stats["phases"]["stages"] * cpus
    images = run.stats["images"]
    print(f"\nper stage, {run.label}, {run.studies} studies ({images} images); share of {cpus} CPUs x "
          f"{run.stats['phases']['stages']:.1f} s of the stages phase")
    print(f"{'stage':<15}{'wall s':>9}{'share':>8}{'images/s':>10}{'CPU s':>9}{'CPU ms/image':>14}")
    for stage in stages:
        wall, cpu = seconds[stage], seconds[f"{stage}_cpu"]
        rate = f"{images / wall:.1f}" if wall > 0 else "not run"
        print(f"{stage:<15}{wall:>9.1f}{wall / offered:>8.1%}{rate:>10}{cpu:>9.1f}{1000 * cpu / images:>14.1f}")
    other = offered - sum(seconds[stage] for stage in stages)
    print(f"{'other':<15}{other:>9.1f}{other / offered:>8.1%}   (Ray scheduling, worker start-up, "
          f"(de)serialisation, idle CPUs)")


def print_phases(run: Run) -> None:
    peaks = run.peak_by_phase()
    print(f"\nphases, {run.label}, {run.studies} studies: driver wall seconds, peak PSS GiB")
    shown = {name: f"{peak / GIB:.2f}" if peak else "-" for name, peak in peaks.items()}  # "-": shorter than a sample
    print("  ".join(f"{name} {run.stats['phases'][name]:.1f} s {shown[name]}" for name in peaks))


def print_runs(runs: list[Run]) -> None:
    print(f"\n{'run':<24}{'studies':>9}{'wall s':>9}{'studies/s':>11}{'peak PSS GiB':>14}{'sum RSS GiB':>13}"
          f"{'processes':>11}{'load':>7}{'sampler CPU s':>15}")
    for run in runs:
        load = sum(run.memory.loads) / len(run.memory.loads)
        print(f"{run.label:<24}{run.studies:>9}{run.wall_s:>9.1f}{run.rate:>11.2f}{run.memory.peak_pss / GIB:>14.2f}"
              f"{run.memory.peak_rss / GIB:>13.2f}{run.memory.peak_processes:>11}{load:>7.1f}{run.memory.cpu_s:>15.1f}")
    print("(load: the machine's mean 1-minute load average in the run; above its CPU count, other work shares them;\n"
          " sampler CPU: what measuring the memory took, inside the driver's process and its phases' CPU seconds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="studies in the main build")
    parser.add_argument("--compare-n", type=int, default=1000, help="the smaller build for the memory and loop checks")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench", help="rendered samples and outputs")
    parser.add_argument("--keep-samples", action="store_true", help="keep the rendered samples (they are large)")
    args = parser.parse_args()

    from annotators import offline

    offline.apply()
    os.environ.setdefault("RAY_worker_niceness", "0")
    sizes = sorted({args.compare_n, args.n})
    out = args.workdir / "builds"
    shutil.rmtree(out, ignore_errors=True)
    configs = {n: sample_config(args.workdir, n, out / f"ray-{n}", args.num_cpus) for n in sizes}
    for n, cfg in configs.items():
        print(f"sample of {n} studies ready in {render(cfg):.0f} s (outside the timings)", flush=True)
    runs = {}
    for n in sorted(sizes, reverse=True):
        runs[n] = ray_run(configs[n])
        print_runs([runs[n]])
    loop = loop_run(dataclasses.replace(configs[args.compare_n], output=str(out / f"loop-{args.compare_n}")))
    print_runs([loop])
    identical = same_shards(runs[args.compare_n].output, loop.output)

    print_stages(runs[args.n], args.num_cpus)
    print_stages(loop, 1)
    for run in [*runs.values(), loop]:
        print_phases(run)
    print_runs([runs[n] for n in sorted(sizes, reverse=True)] + [loop])
    small, big = runs[args.compare_n].memory.peak_pss, runs[args.n].memory.peak_pss
    ratio = big / small
    print(f"\npeak memory {args.n} vs {args.compare_n} studies: {ratio:.2f}x "
          f"({'flat' if ratio <= FLAT_LIMIT else 'NOT flat'}: limit {FLAT_LIMIT}x)")
    print(f"loop shards identical to the Ray build's at {args.compare_n}: {identical}")
    print(json.dumps({"num_cpus": args.num_cpus, "memory_ratio": ratio, "identical": identical, "runs": [
        {"label": r.label, "studies": r.studies, "wall_s": r.wall_s, "peak_pss": r.memory.peak_pss,
         "peak_rss": r.memory.peak_rss, "stats": r.stats} for r in [*runs.values(), loop]]}))
    if identical:
        shutil.rmtree(out, ignore_errors=True)
    else:
        print(f"the builds are kept under {out} to compare")
    if not args.keep_samples:
        for cfg in configs.values():
            shutil.rmtree(cfg.sources[0].options["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
