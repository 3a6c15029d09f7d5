"""The build: connectors -> Ray Data stages -> parts -> shards, manifest and rejects, resumable at any point."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa
import ray

from connectors import get_connector
from connectors.base import StudyRef, shown
from connectors.tables import SourceLayoutError
from pipeline import storage
from pipeline.config import NOT_SHAPING_ROWS, BuildConfig, ConfigError, SourceConfig, from_dict, patient_secret, to_dict
from pipeline.dedup import plan_drops
from pipeline.executor import WORKER_MODULES, Tally, run_on_ray
from pipeline.records import one_split_per_patient
from pipeline.shards import BuildLayout, Drop, compact_shard, completed_inputs, write_rejects
from pipeline.stage import StageSetupError, prepared
from pipeline.stage_list import build_stages
from pipeline.stages.decode import work_items
from pipeline.stats import BuildStats
from pipeline.version import PIPELINE_VERSION
from schemas.record import SCHEMA_VERSION
from schemas.runtime import ensure_ray


@dataclass(frozen=True)
class Inputs:
    """The connector rows of a build, each with its shard, in a stable order."""

    refs: tuple[StudyRef, ...]
    shards: tuple[int, ...]
    n_shards: int

    @functools.cached_property
    def sha256(self) -> str:
        """What the inputs are: each row's paths and text, and the size and modification time of each local file
        it reads (a report or image rewritten in place is noticed; a remote one is known by its path alone)."""
        digest = hashlib.sha256()
        for ref in self.refs:
            digest.update(json.dumps(ref.to_row(), sort_keys=True).encode())
            digest.update(f"{_file_stamp(ref.image)}|{_file_stamp(ref.report_path)}".encode())
        return digest.hexdigest()


def _file_stamp(path: str) -> str:
    """"size:mtime_ns" of a local file; "" for none, a URL or a file that cannot be stat'ed (decode rejects it)."""
    if not path or "://" in path:
        return ""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return ""
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def collect_inputs(cfg: BuildConfig) -> Inputs:
    """Every connector row (driver side: paths and text only), sorted, duplicate ids rejected, cut into shards."""
    connectors = [(source, _connector_class(source)) for source in cfg.sources]  # a mistyped name before the key
    secret = patient_secret(cfg)
    refs: list[StudyRef] = []
    for source, connector_cls in connectors:
        options = from_dict(connector_cls.Options, source.options, f"sources.{source.name}.options")
        connector = connector_cls(options, secret, source=source.name)
        connector.prepare()
        try:  # ids are shown and compared as text; each detector has its own stage
            source_refs = [dataclasses.replace(ref, source_id=shown(ref.source_id),
                                               detect=ref.detect and source.detector) for ref in connector.refs()]
        except SourceLayoutError as exc:
            raise ConfigError(f"sources.{source.name}: {exc}") from None
        refs.extend(one_split_per_patient(_unique_ids(source_refs)))
    refs.sort(key=lambda r: (r.source, r.source_id))
    n_shards = max(1, -(-len(refs) // cfg.rows_per_shard))
    shards = tuple(i * n_shards // max(1, len(refs)) for i in range(len(refs)))
    return Inputs(tuple(refs), shards, n_shards)


def _failing_setup(stages: list) -> StageSetupError | None:
    """After a failed run, the first stage whose set-up fails here too (weights that are no model, a device that is
    not there): a config to fix, said in one line rather than in Ray's traceback."""
    for stage in stages:
        try:
            prepared(stage)
        except StageSetupError as exc:
            return exc
    return None


def _connector_class(source: SourceConfig) -> type:
    try:
        return get_connector(source.connector)
    except ValueError as exc:
        raise ConfigError(f"sources.{source.name}: {exc}") from None


def _unique_ids(refs: list[StudyRef]) -> list[StudyRef]:
    """Each id once: a row whose id an earlier row has is a `duplicate_source_id` reject, renamed "<id>#dup<k>" to an
    id that no row of the source has (an index may list "a#dup2" itself)."""
    taken = {ref.source_id for ref in refs}
    seen: set[str] = set()
    out = []
    for ref in refs:
        if ref.source_id in seen:
            k = len(out)
            while f"{ref.source_id}#dup{k}" in taken:
                k += 1
            taken.add(renamed := f"{ref.source_id}#dup{k}")
            ref = dataclasses.replace(ref, source_id=renamed, reject="duplicate_source_id",
                                      detail="the source lists this id twice")
        else:
            seen.add(ref.source_id)
        out.append(ref)
    return out


@dataclass(frozen=True)
class BuildResult:
    output: str
    manifest: dict
    stats: dict = field(default_factory=dict)  # BuildStats.to_dict(): phase and stage timings, inputs per node
    reused: bool = False  # a finished corpus of the same config and inputs was there: nothing was built


def build(cfg: BuildConfig, on_progress: Callable[[float, float], None] | None = None,
          fresh: bool = False) -> BuildResult:
    """Build (or resume) the corpus of `cfg` into `cfg.output`; `on_progress(done, total)` follows the stages.
    A finished corpus of the same config and inputs (their paths and texts) is kept as it is, unless `fresh`:
    then it, or an interrupted build's work, is removed first (for input files changed in place). Raises
    `storage.Busy` while another build holds the output folder."""
    stats = BuildStats()
    if cfg.output.startswith("memory://"):
        raise ConfigError(f"output {cfg.output}: memory:// lives in one process, which Ray's workers are not; "
                          "pipeline/local_build.py builds onto it in this process")
    if storage.exists(cfg.output) and not storage.is_dir(cfg.output):
        raise ConfigError(f"output {cfg.output} is a file: give a folder (new or a build's) for the corpus")
    layout = BuildLayout(cfg.output)
    config_sha = cfg.content_sha256()  # reads the detectors' weights: one missing fails before the sources are read
    with stats.phase("collect_inputs"):  # before Ray starts: a bad source or option fails at once
        inputs = collect_inputs(cfg)
    state = {"config_sha256": config_sha, "inputs_sha256": inputs.sha256, "n_shards": inputs.n_shards}
    with storage.held(cfg.output):  # a second build into the same folder is refused, not interleaved with this one
        if fresh:
            _remove_outputs(layout)
        if _finished(layout, state):
            return BuildResult(cfg.output, json.loads(storage.read_bytes(layout.manifest)), reused=True)
        manifest = _run(cfg, layout, inputs, state, stats, on_progress)
    return BuildResult(cfg.output, manifest, stats.to_dict())


def _run(cfg: BuildConfig, layout: BuildLayout, inputs: Inputs, state: dict, stats: BuildStats,
         on_progress: Callable[[float, float], None] | None) -> dict:
    """Start or resume the build of `inputs` in `layout`: the stages over what no part holds yet, dedup,
    compaction and the manifest (returned)."""
    with stats.phase("start_ray"):
        ensure_ray(cfg.ray, preload=WORKER_MODULES)
    _start_or_resume(layout, state)

    done_shards = {s for s in range(inputs.n_shards) if storage.exists(layout.marker(s))}
    todo = _pending_items(layout, inputs, done_shards)
    total = float(len(inputs.refs))
    tally = Tally(stats, cfg.failures, done=total - todo.num_rows,
                  progress=lambda done: on_progress and on_progress(done, total))
    tally.progress(tally.done)
    if todo.num_rows:
        with stats.phase("stages"):
            stages = build_stages(cfg, gpus=int(ray.cluster_resources().get("GPU", 0)))
            try:
                run_on_ray(stages, todo, layout, tally, cfg.ray.blocks_per_cpu)
            except Exception:  # Ray Data hands a worker's error on as its own type, with the message as text
                setup = _failing_setup(stages)
                if setup is None:
                    raise
                raise ConfigError(str(setup)) from None
    with stats.phase("dedup"):
        dedup = plan_drops(layout, inputs.n_shards, cfg.dedup)
    with stats.phase("compact"):
        markers = _compact(layout, inputs.n_shards, done_shards, drops=dedup.drops)
    with stats.phase("manifest"):
        _remove_temporaries(layout)
        manifest = _write_manifest(cfg, layout, inputs, markers, state, dedup.summary)
        storage.remove_tree(layout.work)
    return manifest


def _finished(layout: BuildLayout, state: dict) -> bool:
    """A manifest of this config and inputs exists, and every file it lists is there at its size: the manifest is
    written last, so only leftover work may remain. A damaged corpus (a manifest that does not parse, a shard cut
    short or removed) is built again; `medregion verify` checks the files' contents too."""
    if not storage.exists(layout.manifest):
        return False
    try:
        manifest = json.loads(storage.read_bytes(layout.manifest))
        files = [*manifest["shards"], manifest["rejects"]]
        intact = all(storage.size(storage.join(layout.output, f["file"])) == f.get("bytes", -1) for f in files)
    except (ValueError, KeyError, TypeError):
        return False
    if not intact or not all(manifest.get(k) == v for k, v in state.items() if k != "n_shards"):
        return False
    storage.remove_tree(layout.work)
    return True


def _start_or_resume(layout: BuildLayout, state: dict) -> None:
    """Keep the work folder of an interrupted build of the same config and inputs; otherwise start clean."""
    if storage.exists(layout.state) and json.loads(storage.read_bytes(layout.state)) == state:
        return
    _remove_outputs(layout)
    storage.write_bytes(layout.state, json.dumps(state, sort_keys=True).encode())


def _remove_outputs(layout: BuildLayout) -> None:
    for url in (layout.manifest, layout.work, layout.shards, layout.rejects):
        storage.remove_tree(url)


def _pending_items(layout: BuildLayout, inputs: Inputs, done_shards: set[int]) -> pa.Table:
    """The work items of the inputs that no finished shard or written part holds yet."""
    completed: dict[int, set] = {}
    refs, shards = [], []
    for ref, shard in zip(inputs.refs, inputs.shards):
        if shard in done_shards:
            continue
        if shard not in completed:
            completed[shard] = completed_inputs(layout, shard)
        if (ref.source, ref.source_id) not in completed[shard]:
            refs.append(ref)
            shards.append(shard)
    return work_items(refs, shards)


def _compact(layout: BuildLayout, n_shards: int, done_shards: set[int], drops: dict[str, Drop]) -> list[dict]:
    compact = ray.remote(compact_shard)
    futures = [compact.remote(layout, s, n_shards, drops) for s in range(n_shards) if s not in done_shards]
    ray.get(futures)
    return [json.loads(storage.read_bytes(layout.marker(s))) for s in range(n_shards)]


def _remove_temporaries(layout: BuildLayout) -> None:
    """Half-written files that a killed build left beside the shards, manifest and rejects."""
    for url in (layout.shards, layout.output):
        fs, path = storage.filesystem(url)
        for name in fs.ls(path, detail=False) if fs.exists(path) else ():
            if ".tmp-" in name:
                fs.rm(name)


def _write_manifest(cfg: BuildConfig, layout: BuildLayout, inputs: Inputs, markers: list[dict], state: dict,
                    dedup: dict) -> dict:
    rejects = [r for m in markers for r in m["rejects"]]
    sources: dict[str, dict] = {s.name: {"inputs": 0, "rows": 0, "rejects": 0} for s in cfg.sources}
    for ref in inputs.refs:
        sources[ref.source]["inputs"] += 1
    for marker in markers:
        for name, counts in marker["sources"].items():
            sources[name]["rows"] += counts["rows"]
            sources[name]["rejects"] += counts["rejects"]
    _check_accounting(inputs, markers)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "pipeline_version": PIPELINE_VERSION,
        **state,
        "config": {k: v for k, v in to_dict(cfg).items() if k not in NOT_SHAPING_ROWS},
        "shards": [{k: m[k] for k in ("file", "rows", "sha256", "bytes")} for m in markers if "file" in m],
        "rejects": write_rejects(layout, rejects),
        "sources": sources,
        "dedup": dedup,
        "totals": {"inputs": len(inputs.refs), "rows": sum(m["rows"] for m in markers), "rejects": len(rejects)},
    }
    storage.write_bytes(layout.manifest, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def _check_accounting(inputs: Inputs, markers: list[dict]) -> None:
    """Every input ends as rows or rejects: a build that lost one must not write a manifest."""
    accounted = {tuple(key) for m in markers for key in m["inputs"]}
    missing = sorted({(r.source, r.source_id) for r in inputs.refs} - accounted)
    if missing:
        raise RuntimeError(f"accounting: {len(missing)} inputs ended in neither rows nor rejects, e.g. {missing[:3]}")
