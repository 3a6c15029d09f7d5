"""A real build killed with SIGKILL (its Ray with it) during the stages and again during compaction, then
started again with the same command, ends byte-identical to an uninterrupted build, redoing no finished work.
Splits stay fixed per patient across these rebuilds."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from pipeline.build import build
from pipeline.config import to_dict
from pipeline.inspect import read_shards
from pipeline.records import assign_split
from pipeline.shards import BuildLayout, completed_inputs

MEDREGION = Path(sys.executable).with_name("medregion")
SAMPLE_N = 16  # studies of the sample source rendered for these tests (it adds copies and broken inputs)
ROWS_PER_SHARD = 4  # several shards, so that compaction can be caught halfway


@pytest.fixture(scope="module")
def config(sample_config, tmp_path_factory):
    """The build config (as a YAML file for the command line, and as a BuildConfig) of these tests."""
    folder = tmp_path_factory.mktemp("resume")
    cfg = sample_config(Path("unused"))
    source = dataclasses.replace(cfg.sources[0], options={"root": str(folder / "sample"), "n": SAMPLE_N, "seed": 0})
    # A detector batch of one image: rows reach the part writer a few at a time, so the first kill lands
    # between parts (with larger batches, one write could hold every input of this small build).
    cfg = dataclasses.replace(cfg, sources=(source,), rows_per_shard=ROWS_PER_SHARD,
                              detectors=tuple(dataclasses.replace(d, batch_size=1) for d in cfg.detectors))
    path = folder / "build.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in to_dict(cfg).items() if k not in ("output", "ray")}))
    return path, cfg


@pytest.fixture(scope="module")
def clean(config, ray_cluster, tmp_path_factory) -> Path:
    """The uninterrupted build, made in this process on the session's Ray."""
    output = tmp_path_factory.mktemp("clean") / "corpus"
    build(dataclasses.replace(config[1], output=str(output)))
    return output


def _session_processes(sid: int) -> list[int]:
    """Processes of session `sid` (the killed build and the Ray it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _start(config_path: Path, output: Path, log: Path, crash_in_compaction: bool = False) -> subprocess.Popen:
    command = [str(MEDREGION)] if not crash_in_compaction else [sys.executable, "-c", CRASH_IN_COMPACTION]
    command += ["build", str(config_path), "--num-cpus", "2", "--output", str(output)]
    return subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


# The real `medregion build`, whose compaction of the last shard SIGKILLs the whole build (its Ray with it) once
# another shard is compacted: a crash halfway through compaction at a fixed point, not one a poll may miss (the
# small shards of this test compact in well under a second).
CRASH_IN_COMPACTION = """
import os, signal, sys, time
from pathlib import Path
import pipeline.build
from pipeline.cli import app
from pipeline.shards import compact_shard

def compact_or_crash(layout, shard, n_shards, drops):
    if shard < n_shards - 1:
        return compact_shard(layout, shard, n_shards, drops)
    while not list(Path(layout.marker(0)).parent.glob("*.json")):
        time.sleep(0.01)
    os.killpg(os.getsid(0), signal.SIGKILL)

pipeline.build.compact_shard = compact_or_crash
sys.argv[0] = "medregion"
app()
"""


def _wait_gone(process: subprocess.Popen) -> None:
    """SIGKILL the build's whole process group; then wait until none of its processes is left."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    deadline = time.monotonic() + 60
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _session_processes(process.pid), "the killed build left Ray processes behind"


def _kill_when(process: subprocess.Popen, ready, what: str, timeout: float = 600) -> None:
    """SIGKILL the build once `ready()`."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"the build ended (code {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)
    _wait_gone(process)


def _parts(layout: BuildLayout) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (Path(layout.work) / "parts").glob("shard-*/*.arrow")}


def _part_inputs(path: Path) -> set[tuple[str, str]]:
    table = pa.ipc.open_stream(path.read_bytes()).read_all()
    return set(zip(table.column("source").to_pylist(), table.column("source_id").to_pylist()))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_killed_twice_then_resumed_equals_a_clean_build(config, clean, tmp_path):
    config_path, _ = config
    output, log = tmp_path / "corpus", tmp_path / "build.log"
    layout = BuildLayout(str(output))
    inputs = json.loads((clean / "manifest.json").read_text())["totals"]["inputs"]

    # 1. Killed during the stages: once the first part is written.
    _kill_when(_start(config_path, output, log), lambda: bool(_parts(layout)), "a first part")
    assert not (output / "manifest.json").exists()
    n_shards = json.loads(Path(layout.state).read_text())["n_shards"]  # with those whose rows all became rejects
    first_parts = _parts(layout)
    done_before = set().union(*(completed_inputs(layout, s) for s in range(n_shards)))
    assert 0 < len(done_before) < inputs, "the first kill did not land during the stages"

    # 2. Killed during compaction: the last shard's compaction kills the build once another shard is compacted.
    crashing = _start(config_path, output, log, crash_in_compaction=True)
    assert crashing.wait(timeout=600) == -signal.SIGKILL, log.read_text()[-3000:]
    _wait_gone(crashing)
    assert not (output / "manifest.json").exists()
    compacted = [json.loads(p.read_text()) for p in Path(layout.marker(0)).parent.glob("*.json")]
    assert 0 < len(compacted) < n_shards and n_shards - 1 not in {m["shard"] for m in compacted}
    parts = _parts(layout)
    assert all(parts.get(p) == mtime for p, mtime in first_parts.items()), "parts of the first run were rewritten"
    redone = set().union(*(_part_inputs(p) for p in parts if p not in first_parts)) & done_before
    assert not redone, f"inputs finished before the first kill were processed again: {sorted(redone)[:3]}"
    compacted_times = {output / m["file"]: (output / m["file"]).stat().st_mtime_ns for m in compacted if "file" in m}

    # 3. The same command again finishes the build.
    finished = subprocess.run([str(MEDREGION), "build", str(config_path), "--num-cpus", "2", "--output", str(output)],
                              capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert _files(output) == _files(clean)  # shards, manifest and rejects byte for byte; no .build, no temp file
    assert all(p.stat().st_mtime_ns == t for p, t in compacted_times.items()), "a compacted shard was rewritten"


@pytest.mark.slow
@pytest.mark.parametrize("sent, to_group", [
    (signal.SIGINT, True),  # what Ctrl-C sends: the whole foreground group, Ray's workers too
    (signal.SIGTERM, False),  # what `kill PID`, a scheduler or a container's stop sends: the driver alone
], ids=["ctrl-c", "sigterm"])
def test_interrupted_says_so_and_resumes_to_a_clean_build(config, clean, tmp_path, sent, to_group):
    config_path, _ = config
    output, log = tmp_path / "corpus", tmp_path / "build.log"
    layout = BuildLayout(str(output))
    build_process = _start(config_path, output, log)
    deadline = time.monotonic() + 600
    while not _parts(layout):
        assert build_process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)
    if to_group:
        os.killpg(build_process.pid, sent)
    else:
        build_process.send_signal(sent)
    assert build_process.wait(timeout=120) == 130, log.read_text()[-3000:]
    assert "interrupted: the parts written so far are kept; the same command resumes from them\n" in log.read_text()
    _wait_gone(build_process)
    finished = subprocess.run([str(MEDREGION), "build", str(config_path), "--num-cpus", "2", "--output", str(output)],
                              capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert _files(output) == _files(clean)


def test_a_damaged_finished_corpus_is_built_again(config, clean, tmp_path):
    """A finished corpus is kept only when every file its manifest lists is there at its size."""
    output = Path(shutil.copytree(clean, tmp_path / "corpus"))
    cfg = dataclasses.replace(config[1], output=str(output))
    shard = output / json.loads((output / "manifest.json").read_text())["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-100])
    assert not build(cfg).reused and _files(output) == _files(clean)
    (output / "rejects.arrow").unlink()
    assert not build(cfg).reused and _files(output) == _files(clean)
    (output / "manifest.json").write_text('{"shards": [')
    assert not build(cfg).reused and _files(output) == _files(clean)
    assert build(cfg).reused


def test_a_build_into_a_folder_another_build_holds_is_refused(config, clean, tmp_path):
    """Two builds into one folder would remove, compact and overwrite each other's work: the second is refused at
    once, and the first one's corpus stays as it is."""
    from pipeline import storage

    output = Path(shutil.copytree(clean, tmp_path / "corpus"))
    cfg = dataclasses.replace(config[1], output=str(output))
    with storage.held(str(output)):
        with pytest.raises(storage.Busy, match="in use by another build"):
            build(cfg, fresh=True)
    assert _files(output) == _files(clean) and build(cfg).reused


def test_splits_are_fixed_per_patient_across_rebuilds(clean, sample_build):
    """The same patient gets the same split in a build of another shard size; every patient has one split."""
    splits: dict[str, set] = defaultdict(set)
    for folder in (clean, sample_build):
        rows = read_shards(folder, ["patient_key", "split"])
        for key, split in zip(rows["patient_key"], rows["split"]):
            splits[key].add(split)
    assert splits and all(len(s) == 1 for s in splits.values())
    assert {assign_split(key, "", 0.1, 0.1) for key in splits} == {"train", "validation", "test"}
    assert all(assign_split(key, "", 0.1, 0.1) == next(iter(s)) for key, s in splits.items())
    assert assign_split("any-key", "VAL", 0.1, 0.1) == "validation"  # a source's own split wins


def test_a_finished_corpus_is_reused_and_fresh_builds_again(ray_cluster, tmp_path, monkeypatch):
    """Inputs are known by their paths, texts and local files' sizes and times: a build of unchanged inputs keeps
    the finished corpus, an image rewritten in place builds again, and `fresh` always does."""
    import numpy as np
    from PIL import Image

    from pipeline.config import BuildConfig, from_dict

    monkeypatch.setenv("MEDREGION_DEID_KEY", "fresh-test-secret-key")
    ramp = np.add.outer(np.arange(256), np.arange(256)).astype(np.uint8)
    for name, pixels in (("a.png", ramp), ("b.png", ramp.T[::-1])):
        Image.fromarray(pixels).save(tmp_path / name)
    (tmp_path / "index.jsonl").write_text(
        '{"image": "a.png", "text": "Right lower lobe consolidation."}\n'
        '{"image": "b.png", "text": "Left pleural effusion, small."}\n')
    cfg = from_dict(BuildConfig, {"output": str(tmp_path / "out"), "sources": [
        {"name": "f", "connector": "folder",
         "options": {"root": str(tmp_path), "index": "index.jsonl", "source_ids": "as_given"}}]})

    def images() -> dict[str, bytes]:
        return {row["source_id"]: row["image"]["bytes"] for row in read_shards(cfg.output).to_dicts()}

    first = build(cfg)
    before = images()
    assert build(cfg).reused and not first.reused and images() == before
    Image.fromarray(255 - ramp).save(tmp_path / "a.png")  # the same path, other pixels
    again = build(cfg)
    after = images()
    assert not again.reused and after["b.png"] == before["b.png"] and after["a.png"] != before["a.png"]
    rebuilt = build(cfg, fresh=True)
    assert not rebuilt.reused and images() == after
    assert rebuilt.manifest["totals"] == {"inputs": 2, "rows": 2, "rejects": 0}
