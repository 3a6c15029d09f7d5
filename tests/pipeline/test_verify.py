"""`medregion verify` passes a real build and catches every kind of tampering with it."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.shards import stream_bytes
from pipeline.verify import verify


@pytest.fixture()
def build_copy(sample_build, tmp_path) -> Path:
    """A private copy of the session's build, free to break."""
    return Path(shutil.copytree(sample_build, tmp_path / "build"))


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _first_shard(folder: Path) -> Path:
    return folder / _manifest(folder)["shards"][0]["file"]


def test_a_sound_build_passes(sample_build):
    result = verify(str(sample_build))
    assert result.ok, result.problems
    manifest = _manifest(sample_build)
    assert (result.shards, result.rows, result.rejects) == (
        len(manifest["shards"]), manifest["totals"]["rows"], manifest["totals"]["rejects"])
    outcome = CliRunner().invoke(app, ["verify", str(sample_build)])
    assert outcome.exit_code == 0 and "ok" in outcome.output


def test_one_flipped_byte_in_a_shard_fails(build_copy):
    shard = _first_shard(build_copy)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    problems = verify(str(build_copy)).problems
    assert any("sha256 differs" in p for p in problems), problems
    outcome = CliRunner().invoke(app, ["verify", str(build_copy)])
    assert outcome.exit_code == 1 and "fails verify" in " ".join(outcome.output.split())


def test_a_truncated_shard_fails(build_copy):
    shard = _first_shard(build_copy)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    problems = verify(str(build_copy)).problems
    assert any("bytes, the manifest says" in p for p in problems)
    assert any("not a readable Arrow IPC stream" in p or "rows, the manifest says" in p for p in problems), problems


def test_a_shard_without_features_metadata_fails_even_with_a_matching_manifest(build_copy):
    shard = _first_shard(build_copy)
    table = pa.ipc.open_stream(shard.read_bytes()).read_all()
    data = stream_bytes(table, table.schema.remove_metadata())
    shard.write_bytes(data)
    manifest = _manifest(build_copy)
    manifest["shards"][0].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (build_copy / "manifest.json").write_text(json.dumps(manifest))
    problem = f"{shard}: schema (or its features metadata) differs from the record schema"
    assert verify(str(build_copy)).problems == [problem]


def test_accounting_mismatch_fails(build_copy):
    manifest = _manifest(build_copy)
    source = next(iter(manifest["sources"]))
    manifest["sources"][source]["inputs"] += 1
    (build_copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify(str(build_copy)).problems
    assert any(f"source {source!r}" in p and "found in rows and rejects" in p for p in problems)
    assert any(p.startswith("totals.inputs") for p in problems)


def test_missing_rejects_missing_shard_and_stray_file_fail(build_copy):
    (build_copy / "rejects.arrow").unlink()
    (build_copy / "shards" / "data-99999-of-99999.arrow.tmp-abc").write_bytes(b"half")
    shard = _first_shard(build_copy)
    shard.unlink()
    problems = verify(str(build_copy)).problems
    assert any("rejects.arrow: listed in the manifest but missing" in p for p in problems)
    assert any(f"{shard}: listed in the manifest but missing" in p for p in problems)
    assert any("tmp-abc: in shards/ but not in the manifest" in p for p in problems)


@pytest.mark.parametrize("damage", [
    lambda m: m["shards"][0].pop("file"),
    lambda m: m.update(shards=[None]),
    lambda m: m.update(shards=None),
    lambda m: m["sources"]["sample"].update(rows="40"),
    lambda m: m.update(rejects=["rejects.arrow"]),
    lambda m: m["shards"][0].update(file="../elsewhere/" + m["shards"][0]["file"]),  # publish would read it
    lambda m: m["shards"][0].update(rows=str(m["shards"][0]["rows"])),
    lambda m: m["rejects"].update(file="/tmp/rejects.arrow"),
])
def test_a_manifest_of_the_wrong_shape_is_a_mismatch_not_a_crash(build_copy, damage):
    manifest = _manifest(build_copy)
    damage(manifest)
    (build_copy / "manifest.json").write_text(json.dumps(manifest))
    outcome = CliRunner().invoke(app, ["verify", str(build_copy)])
    assert outcome.exit_code == 1 and isinstance(outcome.exception, (SystemExit, type(None))), outcome.exception
    assert "mismatch: manifest.json" in outcome.output, outcome.output


def test_undecodable_manifest_and_a_folder_in_place_of_a_shard_are_mismatches(build_copy):
    shard = _first_shard(build_copy)
    shard.unlink()
    shard.mkdir()
    assert any("cannot be read (IsADirectoryError" in p for p in verify(str(build_copy)).problems)
    (build_copy / "manifest.json").write_bytes(b"\x80\x81garbage")
    [problem] = verify(str(build_copy)).problems
    assert problem.startswith("manifest.json cannot be read as JSON: UnicodeDecodeError")
