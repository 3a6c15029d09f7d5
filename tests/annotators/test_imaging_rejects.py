"""Inputs that are no image: a clear DecodeError whose detail depends on the input alone (no reprs, no addresses);
inputs whose headers ask for more memory than a decoder allocates are refused before it is allocated."""
import gzip
import io
import json
import os
import subprocess
import sys
import tracemalloc
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.data import get_testdata_file

from annotators.imaging import DecodeError, FrameSelection, decode
from annotators.imaging.types import stable_detail

ROOT = Path(__file__).resolve().parents[2]


def _raster(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96), dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def _inputs() -> dict[str, bytes]:
    png, jpeg = _raster("PNG"), _raster("JPEG")
    return {
        "notes.txt": b"Patient notes, not an image.\n",
        "text.png": b"FINDINGS: no image here.\n",
        "empty.png": b"",
        "cut.png": png[: len(png) // 2],
        "header-only.png": png[:24],
        "cut.jpg": jpeg[: len(jpeg) // 2],
        "random.bin": np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "no-pixels.dcm": Path(get_testdata_file("rtplan.dcm")).read_bytes(),
        "passwd": b"root:x:0:0:root:/root:/bin/bash\n",
    }


def _details(folder: Path) -> dict[str, tuple[str, str]]:
    """name -> (reason, detail) of decoding each file of `folder` in this process."""
    out = {}
    for path in sorted(folder.iterdir()):
        with pytest.raises(DecodeError) as err:
            decode(path.read_bytes(), path.name)
        out[path.name] = (err.value.reason, err.value.detail)
    return out


SUBPROCESS = """
import json, sys
from pathlib import Path
from annotators.imaging import DecodeError, decode
out = {}
for path in sorted(Path(sys.argv[1]).iterdir()):
    junk = [bytearray(1000 * (i + 1)) for i in range(50)]  # another heap layout than the first run
    try:
        decode(bytes(memoryview(path.read_bytes())), str(path))
    except DecodeError as exc:
        out[path.name] = [exc.reason, exc.detail]
print(json.dumps(out))
"""


def test_reject_details_are_the_same_in_another_process_and_hold_no_address(tmp_path):
    for name, data in _inputs().items():
        (tmp_path / "a" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "a" / name).write_bytes(data)
        (tmp_path / "b" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "b" / name).write_bytes(data)
    first = _details(tmp_path / "a")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SUBPROCESS, str(tmp_path / "b")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    second = {name: tuple(pair) for name, pair in json.loads(done.stdout.splitlines()[-1]).items()}
    assert first == second
    assert first["text.png"][0] == first["notes.txt"][0] == first["random.bin"][0] == "unknown_format"
    assert first["empty.png"][0] == "empty_file" and first["no-pixels.dcm"][0] == "no_pixel_data"
    assert first["cut.png"][0] == first["cut.jpg"][0] == "truncated_image"
    for reason, detail in first.values():
        assert detail and "0x" not in detail and "object at" not in detail and str(tmp_path) not in detail, detail


def test_stable_detail_removes_reprs_and_addresses_but_keeps_codes():
    assert stable_detail("cannot identify image file <_io.BytesIO object at 0x7f3a2c1b5e40>") == (
        "cannot identify image file the BytesIO data")
    assert stable_detail("freed block 0x00007f3a2c1b5e40\n in (7FE0,0010) tag 0x7FE0") == (
        "freed block an address in (7FE0,0010) tag 0x7FE0")
    assert len(stable_detail("x" * 1000)) == 300


PREFIXES = (b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", bytes(128) + b"DICM", b"\x1f\x8b", bytes(344) + b"n+1\x00",
            b"GIF89a", b"BM", b"II*\x00")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=700),
       name=st.sampled_from(["a.png", "a.jpg", "a.dcm", "a.nii", "a.nii.gz", "a", "a.txt"]))
def test_any_bytes_decode_or_give_a_decode_error(prefix, body, name):
    try:
        images = decode(prefix + body, name)
    except DecodeError as exc:
        assert exc.reason and exc.detail == stable_detail(exc.detail)
        return
    assert images and all(image.pixels.dtype == np.uint8 for image in images)


REAL_FILES = (("CT_small.dcm", Path(get_testdata_file("CT_small.dcm")).read_bytes()),
              ("MR_small_RLE.dcm", Path(get_testdata_file("MR_small_RLE.dcm")).read_bytes()),
              ("anatomical.nii", (Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii").read_bytes()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=st.sampled_from(REAL_FILES), cut=st.floats(0.0, 1.0),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), max_size=4))
def test_cut_or_damaged_real_files_decode_or_give_a_decode_error(file, cut, flips):
    name, data = file
    damaged = bytearray(data[: int(len(data) * cut)])
    for where, value in flips:
        if damaged:
            damaged[int(where * len(damaged))] = value
    try:
        decode(bytes(damaged), name)
    except DecodeError as exc:
        assert exc.reason and exc.detail == stable_detail(exc.detail)


# --- What a header asks a decoder to allocate -----------------------------------------------------------------
def _nifti_gz(shape: tuple[int, ...], dtype=np.int16, tail: bytes = b"", members: int = 1) -> bytes:
    """A gzipped NIfTI-1 whose header declares `shape` and whose data is a small ramp (then `tail`)."""
    volume = nib.Nifti1Image(np.zeros((2, 2, 2), dtype), np.eye(4))
    volume.header.set_data_shape(shape)
    volume.header.set_data_offset(352)  # the 348-byte header and its extension flag
    raw = io.BytesIO()
    volume.header.write_to(raw)
    raw.write(b"\0" * (352 - raw.tell()))
    raw.write(np.arange(min(int(np.prod(shape)), 1 << 16)).astype(dtype).tobytes() + tail)
    data = raw.getvalue()
    cut = len(data) // members
    return b"".join(gzip.compress(data[i * cut:(i + 1) * cut if i < members - 1 else None], 1) for i in range(members))


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python's traced allocations inside the block, in the list it yields (set on leaving)."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def test_a_gzipped_volume_whose_header_asks_too_much_is_refused_before_inflating():
    with peak_memory() as peak, pytest.raises(DecodeError, match="image_too_large") as err:
        decode(_nifti_gz((2048, 2048, 1024)), "huge.nii.gz")  # 8 GiB of int16 declared
    assert peak[0] < 16 << 20
    assert "8,589,934,944 bytes" in err.value.detail


def test_a_gzipped_volume_is_inflated_only_as_far_as_its_first_volume_reaches():
    bomb = _nifti_gz((64, 64, 4), tail=b"\0" * (128 << 20))  # 32 KiB declared, 128 MiB more after it
    with peak_memory() as peak:
        [image] = decode(bomb, "bomb.nii.gz")
    assert peak[0] < 16 << 20
    assert image.pixels.shape == (64, 64)
    series = _nifti_gz((32, 32, 8, 5))  # a 4-D series: its first volume only, from one gzip member or three
    expected = decode(gzip.decompress(series), "series.nii")[0].pixels
    for data in (series, _nifti_gz((32, 32, 8, 5), members=3)):
        np.testing.assert_array_equal(decode(data, "series.nii.gz")[0].pixels, expected)


def test_a_volume_cut_short_of_its_first_volume_is_truncated_wherever_the_cut_falls():
    data = gzip.decompress(_nifti_gz((64, 64, 16)))
    for cut in (len(data) - 1, len(data) // 2 + 200):  # the middle slice itself lies before the second cut
        for name, body in (("cut.nii", data[:cut]), ("cut.nii.gz", gzip.compress(data[:cut], 1))):
            with pytest.raises(DecodeError, match="truncated_file"):
                decode(body, name)


def test_a_dicom_frame_or_projection_over_the_limits_is_refused_before_decoding(monkeypatch):
    import annotators.imaging.dicom as dicom

    ds = pydicom.dcmread(get_testdata_file("emri_small.dcm"))  # 10 frames of 64 x 64
    ds.Rows = ds.Columns = 20_000  # 400 million pixels a frame, with the pixel data of a small file
    with pytest.raises(DecodeError, match="image_too_large") as err:
        decode(_dicom_bytes(ds), "wide.dcm")
    assert "400,000,000 pixels" in err.value.detail
    data = Path(get_testdata_file("emri_small.dcm")).read_bytes()
    monkeypatch.setattr(dicom, "MAX_VOXELS", 64 * 64 * 9)  # the stack of 10 frames is over, one frame is not
    with pytest.raises(DecodeError, match="image_too_large"):
        decode(data, "stack.dcm", FrameSelection("mip"))
    assert decode(data, "stack.dcm", FrameSelection("even", 3))[0].pixels.shape == (64, 64)


def test_a_deflated_dicom_that_inflates_past_the_limit_is_a_bomb(monkeypatch):
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    import annotators.imaging.dicom as dicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))  # 128 x 128, 16-bit: 32 KiB of pixel data
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    data = _dicom_bytes(ds)
    assert decode(data, "deflated.dcm")[0].pixels.shape == (128, 128)
    monkeypatch.setattr(dicom, "MAX_INFLATED_BYTES", 16 << 10)
    monkeypatch.setattr(dicom, "INFLATE_CHUNK", 4 << 10)
    with pytest.raises(DecodeError, match="decompression_bomb"):
        decode(data, "deflated.dcm")


@pytest.mark.parametrize("keyword", ["BurnedInAnnotation", "RecognizableVisualFeatures"])
def test_a_dicom_whose_header_says_its_pixels_identify_the_patient_is_refused(keyword):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    setattr(ds, keyword, "NO")
    assert decode(_dicom_bytes(ds), "stated_no.dcm")[0].pixels.shape == (128, 128)
    setattr(ds, keyword, "yes ")
    with pytest.raises(DecodeError) as err:
        decode(_dicom_bytes(ds), "stated_yes.dcm")
    assert err.value.reason == "identifying_pixels" and keyword in err.value.detail


def _dicom_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
