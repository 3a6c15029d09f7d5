"""The in-process build: the same shards as the Ray build, onto fsspec's memory://, from file:// inputs."""
import csv
import json
import uuid

import pyarrow as pa
import pytest

from pipeline import storage
from pipeline.config import BuildConfig, SourceConfig
from pipeline.local_build import build_shards_in_process
from pipeline.shards import BuildLayout


@pytest.fixture
def memory_output():
    url = f"memory://medregion-{uuid.uuid4().hex}/corpus"
    yield url
    storage.remove_tree(url)


def test_shards_on_memory_equal_the_ray_build(sample_build, sample_config, memory_output):
    stats = build_shards_in_process(sample_config(memory_output))
    ray_shards = sorted(p.name for p in (sample_build / "shards").iterdir())
    memory_shards = storage.list_files(storage.join(memory_output, "shards"), ".arrow")
    assert [url.rsplit("/", 1)[1] for url in memory_shards] == ray_shards
    for name, url in zip(ray_shards, memory_shards):
        assert storage.read_bytes(url) == (sample_build / "shards" / name).read_bytes(), name
    totals = json.loads((sample_build / "manifest.json").read_text())["totals"]
    assert stats.images == totals["rows"] + totals["rejects"]  # every image through the stages, counted once
    assert all(stats.stage_seconds[stage] > 0 for stage in ("decode", "parse", "align", "encode", "write"))


def test_inputs_named_by_file_urls_are_read(sample_root, tmp_path, memory_output, monkeypatch):
    monkeypatch.setenv("MEDREGION_DEID_KEY", "local-build-test-secret")
    images = sorted((sample_root / "images").glob("*.png"))[:2]
    urls = [f"file://{path}" for path in images] + [f"file://{tmp_path}/absent.png"]
    with open(tmp_path / "index.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "text"])
        writer.writerows([url, "Small left pleural effusion. No pneumothorax."] for url in urls)
    source = SourceConfig(name="urls", connector="folder", detector=False,  # the URLs name files elsewhere
                          options={"root": str(tmp_path), "allow_outside_paths": True, "source_ids": "as_given"})
    build_shards_in_process(BuildConfig(sources=(source,), output=memory_output))

    layout = BuildLayout(memory_output)
    (shard,) = storage.list_files(layout.shards, ".arrow")
    rows = pa.ipc.open_stream(storage.read_bytes(shard)).read_all().to_pylist()
    assert sorted(row["source_id"] for row in rows) == sorted(urls[:2])
    assert all(row["image"]["bytes"].startswith(b"\x89PNG") for row in rows)
    rejects = json.loads(storage.read_bytes(layout.marker(0)))["rejects"]
    assert [(r["input"], r["reason"]) for r in rejects] == [(urls[2], "missing_image")]
