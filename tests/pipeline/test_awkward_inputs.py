"""No input can stop or change a build: a folder source with the awkward inputs a real one holds (a report of 1.9
million characters, control characters, lone surrogates in ids and text, broken and foreign files, a missing file,
an id listed twice) builds to
the end, accounts for every input, and builds again to the same bytes. (Identifiers and paths out of the root:
test_planted_identifiers.py.)"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow as pa
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from annotators.imaging import DecodeError, decode
from pipeline import storage
from pipeline.build import build
from pipeline.config import BuildConfig, from_dict
from pipeline.verify import verify

HUGE_REPEATS = 1_900_000 // 34


def _films(sample_root: Path, count: int) -> dict[Path, np.ndarray]:
    """The first `count` sample radiographs with content, as decoded (the sample plants blank and broken ones)."""
    films = {}
    for path in sorted((sample_root / "images").glob("*.png")):
        try:
            pixels = decode(path.read_bytes(), path.name)[0].pixels
        except DecodeError:
            continue
        if pixels.std() > 10:
            films[path] = pixels
        if len(films) == count:
            return films
    raise AssertionError(f"the sample has fewer than {count} radiographs with content")


def awkward_source(root: Path, sample_root: Path) -> list[dict]:
    """Index rows of every awkward kind, beside real sample radiographs."""
    grey = _films(sample_root, 6)
    images = list(grey)
    for i, image in enumerate(images[:4]):
        shutil.copy(image, root / f"film{i}.png")
    (root / "notes.txt").write_text("this is a text file, not an image\n")
    (root / "empty.png").write_bytes(b"")
    (root / "truncated.png").write_bytes((root / "film0.png").read_bytes()[:300])
    (root / "random.dcm").write_bytes(bytes(range(256)) * 8)
    os.mkfifo(root / "pipe.png")  # reading it would wait forever for a writer
    (root / "scan.png").mkdir()
    os.symlink("loop.png", root / "loop.png")
    with open(root / "slide.png", "wb") as handle:  # sparse, over the input size limit: refused unread
        handle.truncate(storage.MAX_INPUT_BYTES + 1)
    film = grey[images[4]]
    tiff = io.BytesIO()
    Image.fromarray(np.where(film > 0, film * 4.0 - 100.0, np.nan).astype(np.float32)).save(tiff, format="TIFF")
    (root / "float.tif").write_bytes(tiff.getvalue())  # negative and NaN values beside the content
    other = grey[images[5]]
    colour = np.zeros(other.T.shape + (3,), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    for channel in "RGB":
        colour[channel] = other.T[..., np.newaxis]
    (root / "colour.nii").write_bytes(nib.Nifti1Image(colour, np.eye(4)).to_bytes())
    header = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    header.PixelData = header.PixelData * 3  # three frames' worth, and no NumberOfFrames
    header.save_as(root / "stack.dcm")
    extended = pydicom.dcmread(get_testdata_file("JPGExtended.dcm"))  # its 12-bit JPEG, which Pillow cannot read
    (root / "deep.jpg").write_bytes(next(pydicom.encaps.generate_frames(extended.PixelData, number_of_frames=1)))
    huge = "Right lower lobe opacity is seen. " * HUGE_REPEATS
    return [
        {"id": "plain", "image": "film0.png", "text": "Right lower lobe consolidation. No effusion."},
        {"id": "odd\udcffid", "image": "film1.png", "patient_id": "p\udcff",
         "text": "Opacit\xe9 basale droite. L\u00e9sion \udcff nodulaire."},
        {"id": "huge", "image": "film2.png", "text": huge},
        {"id": "control", "image": "film3.png", "text": "Left \x00apical\x1b nodule\u202e \ufffd\u200b seen."},
        {"id": "not-an-image", "image": "notes.txt", "text": "Left pleural effusion."},
        {"id": "empty-file", "image": "empty.png", "text": "Left pleural effusion."},
        {"id": "truncated", "image": "truncated.png", "text": "Left pleural effusion."},
        {"id": "random-bytes", "image": "random.dcm", "text": "Left pleural effusion."},
        {"id": "missing", "image": "nowhere.png", "text": "Left pleural effusion."},
        {"id": "plain", "image": "film0.png", "text": "the same id twice"},
        {"id": "pipe", "image": "pipe.png", "text": "Left pleural effusion."},
        {"id": "folder", "image": "scan.png", "text": "Left pleural effusion."},
        {"id": "link-loop", "image": "loop.png", "text": "Left pleural effusion."},
        {"id": "long-name", "image": "x" * 300 + ".png", "text": "Left pleural effusion."},
        {"id": "nul", "image": "film\x000.png", "text": "Left pleural effusion."},
        {"id": "stack", "image": "stack.dcm", "text": "Left pleural effusion."},
        {"id": "float", "image": "float.tif", "text": "Right lower lobe consolidation."},
        {"id": "colour", "image": "colour.nii", "text": "Right lower lobe consolidation."},
        {"id": "slide", "image": "slide.png", "text": "Right lower lobe consolidation."},
        {"id": "deep-jpeg", "image": "deep.jpg", "text": "Right lower lobe consolidation."},
    ]
DEEP_LINE = "[" * 100_000 + "]" * 100_000  # nested past the JSON parser's depth: a reject, not a crash


@pytest.fixture(scope="module")
def awkward_config(sample_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("awkward-src")
    rows = awkward_source(root, sample_root)
    lines = [json.dumps(row) for row in rows] + [DEEP_LINE]  # ASCII, escapes kept
    (root / "index.jsonl").write_text("".join(line + "\n" for line in lines))
    source = {"name": "awkward", "connector": "folder",
              "options": {"root": str(root), "index": "index.jsonl", "report_style": "notes", "source_ids": "as_given"}}
    return from_dict(BuildConfig, {"sources": [source], "rows_per_shard": 4}), len(lines)


def output_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_awkward_input_ends_as_a_row_or_a_reject_and_rebuilds_to_the_same_bytes(
        ray_cluster, awkward_config, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDREGION_DEID_KEY", "awkward-test-secret-key")
    cfg, n_inputs = awkward_config
    outputs = []
    for name in ("first", "second"):
        result = build(dataclasses.replace(cfg, output=str(tmp_path / name)))
        outputs.append(output_bytes(tmp_path / name))
    manifest = result.manifest
    assert manifest["totals"]["inputs"] == n_inputs
    assert manifest["totals"]["rows"] + manifest["totals"]["rejects"] == n_inputs
    assert verify(str(tmp_path / "second")).ok
    assert outputs[0] == outputs[1]  # shards, rejects and manifest, byte for byte

    rejects = {r["source_id"]: r for r in pa.ipc.open_stream(outputs[1]["rejects.arrow"]).read_all().to_pylist()}
    [duplicate] = [key for key in rejects if key.startswith("plain#dup")]
    assert rejects[duplicate]["reason"] == "duplicate_source_id"
    assert {key: rejects[key]["reason"] for key in rejects if key != duplicate} == {
        "not-an-image": "unknown_format", "empty-file": "empty_file", "truncated": "truncated_image",
        "random-bytes": "no_pixel_data", "missing": "missing_image", "pipe": "image_not_a_file",
        "folder": "image_not_a_file", "link-loop": "unreadable_image", "long-name": "unreadable_image",
        "nul": "unreadable_image", "stack": "corrupt_pixel_data", "slide": "image_too_large",
        "line-21": "bad_index_row"}
    assert not [r for r in rejects.values() if r["reason"].startswith("internal_error")]
    assert all("0x" not in r["detail"] and "object at" not in r["detail"] for r in rejects.values())
    shards = pa.concat_tables([pa.ipc.open_stream(data).read_all() for name, data in outputs[1].items()
                               if name.startswith("shards/")])
    report = {row["source_id"]: row["report"] for row in shards.select(["source_id", "report"]).to_pylist()}
    assert set(report) == {"plain", "odd\\udcffid", "huge", "control", "float", "colour",  # undecodable: escaped
                           "deep-jpeg"}
    assert report["huge"]["truncated"] and not report["plain"]["truncated"]
    assert 1000 < len(report["huge"]["findings"]) <= 60_000 and report["huge"]["findings"].endswith("seen.")
    assert "\x00" not in report["control"]["findings"] and "\x1b" not in report["control"]["findings"]
