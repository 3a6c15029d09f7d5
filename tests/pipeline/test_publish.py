"""`medregion publish`: the dry-run layout loads with `datasets`; a broken build is refused; the Hub client
retries, fails clearly and never shows the token."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.inspect import read_shards
from pipeline.publish import PublishError, PublishOptions, git_blob_sha1, write_layout

MEDREGION = Path(sys.executable).with_name("medregion")
SMALL = PublishOptions("medregion-test/sample", shard_bytes=600_000, row_group_bytes=150_000)


@pytest.fixture(scope="module")
def layout(sample_build, tmp_path_factory):
    return write_layout(sample_build, tmp_path_factory.mktemp("hub") / "repo", SMALL)


def _card(folder: Path) -> tuple[dict, str]:
    _, header, body = (folder / "README.md").read_text().split("---\n", 2)
    return yaml.safe_load(header), body


def test_layout_is_parquet_per_split_and_a_card(layout, sample_build):
    files = sorted(str(p.relative_to(layout.folder)) for p in layout.folder.rglob("*") if p.is_file())
    assert files == sorted(layout.files) and layout.files[-1] == "README.md"
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert sum(s.rows for s in layout.splits) == manifest["totals"]["rows"]
    train = next(s for s in layout.splits if s.name == "train")
    assert len(train.files) >= 2  # cut at shard_bytes
    for name in train.files:
        assert name.startswith("data/train-") and name.endswith(f"-of-{len(train.files):05d}.parquet")
        metadata = pq.ParquetFile(layout.folder / name).metadata
        sizes = [metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)]
        if name != train.files[-1]:  # a full file (the last holds what is left, maybe a few rows)
            assert metadata.num_row_groups >= 2  # cut at row_group_bytes
            assert max(sizes[:-1]) < 3 * SMALL.row_group_bytes
    assert not any("reject" in f for f in files)


def test_card_has_configs_features_licences_provenance_and_citation(layout, sample_build):
    header, body = _card(layout.folder)
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert header["configs"][0]["data_files"] == [{"split": s.name, "path": f"data/{s.name}-*"} for s in layout.splits]
    assert [f["name"] for f in header["dataset_info"]["features"]][:3] == ["id", "source", "source_id"]
    assert header["license"] == "cc0-1.0"  # the sample's one licence, as the Hub names it
    assert "| sample | CC0-1.0" in body
    assert manifest["config_sha256"] in body and manifest["inputs_sha256"] in body
    assert "@software{medregion" in body


def test_nothing_published_names_an_input_path(layout, sample_build, sample_root):
    assert str(sample_root).encode() in (sample_build / "rejects.arrow").read_bytes()  # the audit table does
    for name in layout.files:
        assert str(sample_root).encode() not in (layout.folder / name).read_bytes(), name


def test_datasets_loads_the_folder_with_decodable_images_and_regions(layout, sample_build):
    import datasets

    loaded = datasets.load_dataset(str(layout.folder))
    assert {name: len(split) for name, split in loaded.items()} == {s.name: s.rows for s in layout.splits}
    shards = read_shards(sample_build, ["id", "regions"])
    regions = dict(zip(shards["id"], shards["regions"].to_list()))
    for row in loaded["train"].select(range(5)):
        image = row["image"]
        image.load()
        assert image.size == (row["width"], row["height"])
        assert [r["label"] for r in row["regions"]] == [r["label"] for r in regions[row["id"]]]
        assert all(len(r["box"]) == 4 for r in row["regions"])


def test_a_build_that_fails_verify_is_refused(sample_build, tmp_path):
    broken = Path(shutil.copytree(sample_build, tmp_path / "build"))
    shard = next((broken / "shards").glob("*.arrow"))
    shard.write_bytes(shard.read_bytes()[:-1])
    with pytest.raises(PublishError, match="fails verify"):
        write_layout(broken, tmp_path / "hub", SMALL)
    outcome = CliRunner().invoke(app, ["publish", str(broken), "--repo-id", "a/b", "--dry-run", "--out",
                                       str(tmp_path / "hub")])
    assert outcome.exit_code != 0 and "refusing to publish" in outcome.output
    assert not (tmp_path / "hub").exists()


def _publish(build: Path, out: Path, env: dict) -> subprocess.CompletedProcess:
    command = [str(MEDREGION), "publish", str(build), "--repo-id", "medregion-test/sample", "--out", str(out),
               "--retries", "1", "--shard-mb", "1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_upload_retries_then_fails_clearly_without_showing_the_token(sample_build, tmp_path):
    token = "hf_" + "QuietlySecretTokenValue1234567"
    env = {**os.environ, "HF_TOKEN": token, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9",
           "HF_HOME": str(tmp_path / "hf-home")}
    result = _publish(sample_build, tmp_path / "hub", env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "retrying" in output and "could not create the repository after 2 attempts" in " ".join(output.split())
    assert token not in output
    assert (tmp_path / "hub" / "README.md").exists()  # the layout was written before the upload was tried


def test_upload_without_a_token_says_how_to_log_in(sample_build, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env.update(HF_HOME=str(tmp_path / "hf-home"), HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")
    result = _publish(sample_build, tmp_path / "hub", env)
    assert result.returncode != 0 and "no Hugging Face token" in result.stdout + result.stderr


def test_git_blob_sha1_matches_git(tmp_path):
    path = tmp_path / "README.md"
    path.write_bytes(b"---\nlicense: cc0-1.0\n---\n")
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True)
    assert git_blob_sha1(path.read_bytes()) == expected.stdout.strip()
