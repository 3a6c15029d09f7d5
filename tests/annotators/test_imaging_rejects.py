"""Inputs that are no image: a clear DecodeError whose detail depends on the input alone (no reprs, no addresses);
inputs whose headers ask for more memory than a decoder allocates are refused before it is allocated; DICOM as real
archives hold it (headers missing what the standard implies, odd encodings) decodes, or fails with a specific reason."""
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


# --- DICOM as real archives hold it: headers that old modalities and anonymisers leave incomplete, odd encodings ---
RAMP = (np.add.outer(np.arange(48) * 64, np.arange(64)) % 4096).astype(np.uint16)  # 12-bit values, 48 x 64


def _dicom(name: str, **attributes) -> pydicom.Dataset:
    """pydicom's test file `name` with `attributes` set (None: removed)."""
    ds = pydicom.dcmread(get_testdata_file(name))
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def _grey(pixels: np.ndarray, bits_stored: int, syntax=pydicom.uid.ExplicitVRLittleEndian, **attributes):
    """A secondary capture of grey `pixels` as stored (signed when their type is), in `syntax`'s byte order."""
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = pixels.itemsize * 8, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(pixels.dtype.kind == "i")
    order = ">" if syntax == pydicom.uid.ExplicitVRBigEndian else "<"
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder(order)).tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def _pixels(data: bytes, name: str = "x.dcm") -> np.ndarray:
    [image] = decode(data, name)
    return image.pixels


def _reject(data: bytes, name: str = "x.dcm") -> DecodeError:
    with pytest.raises(DecodeError) as err:
        decode(data, name)
    return err.value


@pytest.mark.parametrize("name,removed", [
    ("CT_small.dcm", ("PhotometricInterpretation",)),
    ("CT_small.dcm", ("BitsStored", "HighBit")),
    ("CT_small.dcm", ("PixelRepresentation",)),  # signed, but no value below 0: read unsigned, the same
    ("CT_small.dcm", ("SamplesPerPixel",)),
    ("CT_small.dcm", ("PhotometricInterpretation", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel")),
    ("SC_rgb.dcm", ("SamplesPerPixel",)),  # RGB says 3
    ("SC_rgb_rle.dcm", ("PlanarConfiguration",)),  # compressed: the codestream orders its samples
])
def test_a_dicom_without_the_pixel_attributes_anonymisers_strip_decodes_with_the_standards_defaults(name, removed):
    expected = _pixels(_dicom_bytes(_dicom(name)))
    assert np.array_equal(_pixels(_dicom_bytes(_dicom(name, **dict.fromkeys(removed)))), expected)
    if "PhotometricInterpretation" in removed:  # emptied rather than removed, as some anonymisers do
        assert np.array_equal(_pixels(_dicom_bytes(_dicom(name, PhotometricInterpretation=""))), expected)


@pytest.mark.parametrize("name,attributes,named", [
    ("SC_rgb.dcm", {"PhotometricInterpretation": None}, "RGB and YBR"),
    ("SC_rgb.dcm", {"PhotometricInterpretation": None, "SamplesPerPixel": None}, "RGB and YBR"),  # 3 by the length
    ("SC_rgb.dcm", {"PlanarConfiguration": None}, "PlanarConfiguration"),
    ("CT_small.dcm", {"Rows": 0}, "Rows"),
    ("CT_small.dcm", {"Columns": None}, "Columns"),
    ("CT_small.dcm", {"BitsAllocated": None}, "BitsAllocated"),
])
def test_a_dicom_header_that_leaves_its_pixels_ambiguous_is_corrupt_dicom(name, attributes, named):
    error = _reject(_dicom_bytes(_dicom(name, **attributes)))
    assert error.reason == "corrupt_dicom" and named in error.detail


@pytest.mark.parametrize("syntax", [pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ExplicitVRBigEndian,
                                    pydicom.uid.RLELossless])
def test_bits_above_bits_stored_are_masked_off_and_signed_values_sign_extended(syntax):
    """Overlay planes and other bits above BitsStored are no part of the value; a signed 12-bit value is negative
    when its bit 11 is set, whatever the bits above it hold."""
    signed = RAMP.astype(np.int16) - 2048
    for clean, dirty in ((RAMP, RAMP | 0xF000), (signed, ((signed.view(np.uint16) & 0x0FFF) | 0xA000).view(np.int16))):
        assert np.array_equal(_pixels(_stored_in(syntax, dirty)), _pixels(_stored_in(syntax, clean)))


def _stored_in(syntax, pixels: np.ndarray) -> bytes:
    ds = _grey(pixels, 12, syntax=pydicom.uid.ExplicitVRLittleEndian if syntax.is_compressed else syntax)
    if syntax.is_compressed:
        ds.compress(syntax, encoding_plugin="pydicom")
    return _dicom_bytes(ds)


def _unreadable(ds) -> bytes:
    """`ds` saved with its decimal string 9.87654 written as one that no reader parses."""
    return _dicom_bytes(ds).replace(b"9.87654 ", b"abc     ")


def test_rescale_and_window_values_that_cannot_be_used_give_way_one_by_one():
    """An unreadable slope is 1 and the intercept beside it still applies; a sigmoid window of no width or an
    unreadable centre is no window; a window 1 wide is the standard's threshold at centre - 0.5."""
    windowed = _grey(RAMP, 12, RescaleIntercept=-1024, WindowCenter=-24, WindowWidth=400)
    expected = _pixels(_dicom_bytes(windowed))
    windowed.RescaleSlope = "9.87654"
    assert np.array_equal(_pixels(_unreadable(windowed)), expected)
    automatic = _pixels(_dicom_bytes(_grey(RAMP, 12)))
    for centre, width in (("1500", "0"), ("1500", "-5"), ("9.87654", "400")):
        sigmoid = _grey(RAMP, 12, VOILUTFunction="SIGMOID")
        sigmoid.add_new(0x00281050, "DS", centre)
        sigmoid.add_new(0x00281051, "DS", width)
        assert np.array_equal(_pixels(_unreadable(sigmoid)), automatic), (centre, width)
    sigmoid = _grey(RAMP, 12, VOILUTFunction="SIGMOID", WindowCenter=2048, WindowWidth=1024)
    expected = _pixels(_dicom_bytes(sigmoid))
    sigmoid.RescaleSlope, sigmoid.RescaleIntercept = "9.87654", 0
    assert np.array_equal(_pixels(_unreadable(sigmoid)), expected) and expected.std() > 50
    threshold = _pixels(_dicom_bytes(_grey(RAMP, 12, WindowCenter=2000, WindowWidth=1)))
    assert np.array_equal(threshold, np.where(RAMP > 1999, 255, 0))


def _voi_lut(descriptor: list[int], entries: np.ndarray) -> bytes:
    ds = _grey(RAMP, 12)
    lut = pydicom.Dataset()
    lut.LUTDescriptor = descriptor
    lut.add_new(0x00283006, "US", entries.astype(np.uint16).tolist())
    ds.VOILUTSequence = [lut]
    return _dicom_bytes(ds)


def test_voi_luts_as_writers_make_them_are_shown_over_their_entries():
    """An 8-bit LUT over 4096 inputs (pydicom indexes it with 8-bit integers, which wrap), a 16-bit descriptor beside
    12-bit entries (shown over 0 to 65535, it is near black), and an empty sequence, which is no LUT."""
    assert np.abs(_pixels(_voi_lut([4096, 0, 8], np.arange(4096) // 16)) - RAMP // 16).max() <= 1
    assert np.abs(_pixels(_voi_lut([4096, 0, 16], np.arange(4096))) - np.rint(RAMP / 4095 * 255)).max() <= 1
    plain = _pixels(_dicom_bytes(_grey(RAMP, 12)))
    assert np.array_equal(_pixels(_dicom_bytes(_grey(RAMP, 12, VOILUTSequence=[]))), plain)


def test_a_palette_whose_descriptor_understates_its_entries_is_shown_over_their_depth():
    indices = (np.arange(48 * 64) % 256).astype(np.uint8).reshape(48, 64)
    ds = _grey(indices, 8, PhotometricInterpretation="PALETTE COLOR")
    for colour in ("Red", "Green", "Blue"):  # a grey palette, 16-bit entries, a descriptor that says 8
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 8])
        setattr(ds, f"{colour}PaletteColorLookupTableData", (np.arange(256) * 257).astype("<u2").tobytes())
    assert np.array_equal(_pixels(_dicom_bytes(ds)), indices)


def test_float_pixel_data_needs_no_bits_attributes_and_keeps_its_window():
    values = np.linspace(-1, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    ds = _grey(RAMP, 12)
    for keyword in ("PixelData", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel",
                    "PhotometricInterpretation"):  # fixed by the standard for float pixel data, or not allowed
        delattr(ds, keyword)
    ds.FloatPixelData = values.tobytes()
    assert np.abs(_pixels(_dicom_bytes(ds)) - np.rint((values + 1) * 127.5)).max() <= 2
    ds.WindowCenter, ds.WindowWidth = 0.5, 2  # -0.5 to 0.5
    assert np.abs(_pixels(_dicom_bytes(ds)) - np.clip(np.rint((values + 0.5) * 255), 0, 255)).max() <= 1


@pytest.mark.parametrize("name,frames", [("CT_small.dcm", None), ("emri_small.dcm", 8), ("emri_small.dcm", 12),
                                         ("emri_small_RLE.dcm", 12), ("emri_small_jpeg_ls_lossless.dcm", 8),
                                         ("emri_small_jpeg_2k_lossless.dcm", 12)])
def test_pixel_data_that_holds_other_frames_than_the_header_states_is_corrupt_not_truncated(name, frames):
    """A complete file whose pixel data holds fewer frames (or rows) than its header states, or more, is
    corrupt_pixel_data whichever frame is selected; a file that ends inside its pixel data is truncated_file."""
    ds = _dicom(name, Rows=200) if frames is None else _dicom(name, NumberOfFrames=frames)
    for selection in (FrameSelection(), FrameSelection("mip")):
        with pytest.raises(DecodeError) as err:
            decode(_dicom_bytes(ds), name, selection)
        assert err.value.reason == "corrupt_pixel_data" and "the header describes" in err.value.detail
    data = _dicom_bytes(_dicom(name))
    assert _reject(data[: len(data) * 3 // 4], name).reason == "truncated_file"


ODD = RAMP[:47, :63].astype(np.uint8)  # 2961 bytes of 8-bit pixels


@pytest.mark.parametrize("pixels,extra,unpadded", [(ODD, b"", False),  # padded to an even length, as the standard says
                                                   (ODD, b"", True),  # left odd, as some writers do
                                                   (RAMP, b"\0", False)])  # a stray byte after 16-bit pixels
def test_pixel_data_of_odd_length_or_with_a_byte_after_it_decodes(pixels, extra, unpadded):
    ds = _grey(pixels, pixels.itemsize * 8)
    expected = _pixels(_dicom_bytes(ds))
    ds.PixelData += extra
    data = _dicom_bytes(ds)
    assert np.array_equal(_pixels(_unpadded(data) if unpadded else data), expected)


def _unpadded(data: bytes) -> bytes:
    """`data` with its last element, the pixel data (OB), cut to the odd length it had before its pad byte."""
    length = data.rindex(b"\xe0\x7f\x10\x00OB\0\0") + 8
    size = int.from_bytes(data[length:length + 4], "little") - 1
    return data[:length] + size.to_bytes(4, "little") + data[length + 4:length + 4 + size]


def test_a_deflated_dicom_cut_short_is_truncated():
    ds = _grey(np.random.default_rng(0).integers(0, 4096, (48, 64)).astype(np.uint16), 12,
               syntax=pydicom.uid.DeflatedExplicitVRLittleEndian)
    data = _dicom_bytes(ds)
    assert _pixels(data).shape == (48, 64)
    error = _reject(data[:-500])
    assert error.reason == "truncated_file" and "deflated" in error.detail


@pytest.mark.parametrize("name", ["x.dcm", "IM000001"])  # with a suffix, or sniffed without one
def test_a_dicom_without_its_preamble_or_file_meta_is_read_in_its_own_byte_order(name):
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    expected = _pixels(_dicom_bytes(_grey(RAMP, 12)))
    assert np.array_equal(_pixels(_dicom_bytes(_grey(RAMP, 12))[128:], name), expected)  # "DICM" kept, not the 128
    big_endian = DicomBytesIO()
    big_endian.is_implicit_VR, big_endian.is_little_endian = False, False
    ds = _grey(RAMP, 12, syntax=pydicom.uid.ExplicitVRBigEndian)
    del ds.file_meta
    write_dataset(big_endian, ds)
    assert big_endian.getvalue()[:2] == b"\x00\x08"  # tag (0008,0016) in big endian
    assert np.array_equal(_pixels(big_endian.getvalue(), name), expected)


def test_a_dicom_without_pixels_is_no_pixel_data_and_says_what_it_is():
    report = pydicom.Dataset()
    report.file_meta = pydicom.dataset.FileMetaDataset()
    report.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = pydicom.uid.BasicTextSRStorage
    report.SOPInstanceUID = report.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    report.Modality = "SR"
    error = _reject(_dicom_bytes(report))
    assert error.reason == "no_pixel_data" and "Basic Text SR Storage" in error.detail
    assert _reject(_dicom_bytes(_grey(RAMP, 12, PixelData=b""))).reason == "no_pixel_data"


@pytest.mark.parametrize("syntax", [pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ExplicitVRBigEndian,
                                    pydicom.uid.RLELossless])
def test_values_that_a_high_bit_above_bits_stored_puts_in_the_top_bits_are_shifted_down(syntax):
    """Old ACR-NEMA files keep 12 stored bits in bits 4 to 15 (HighBit 15): shifted right by HighBit + 1 -
    BitsStored, the bits below them (overlays) dropped, signed values keep their sign (PS3.5 8.1.1)."""
    signed = RAMP.astype(np.int16) - 2048
    for clean in (RAMP, signed):
        top = (clean.astype(np.int32) << 4 | np.arange(clean.size).reshape(clean.shape) % 16).astype(clean.dtype)
        ds = _grey(top, 12, syntax=pydicom.uid.ExplicitVRLittleEndian if syntax.is_compressed else syntax)
        ds.HighBit = 15
        if syntax.is_compressed:
            ds.compress(syntax, encoding_plugin="pydicom")
        assert np.array_equal(_pixels(_dicom_bytes(ds)), _pixels(_stored_in(syntax, clean))), clean.dtype


def _multi_frame(frames: np.ndarray, **attributes) -> pydicom.Dataset:
    """`_grey` of a stack of 12-bit `frames`."""
    ds = _grey(frames.reshape(-1, frames.shape[-1]), 12, NumberOfFrames=len(frames), **attributes)
    ds.Rows = frames.shape[1]
    return ds


def test_a_projection_is_shown_with_the_first_frame_s_transforms_not_another_s():
    """Per-frame functional groups state each frame's rescale and window; the projection is shown with the first's,
    not the one Python's index -2 finds."""
    frames = np.stack([RAMP] * 5)
    groups = []
    for number in range(5):
        window = pydicom.Dataset()
        window.WindowCenter, window.WindowWidth = (100, 50) if number == 3 else (2048, 4096)
        group = pydicom.Dataset()
        group.FrameVOILUTSequence = [window]
        groups.append(group)
    ds = _multi_frame(frames)
    ds.PerFrameFunctionalGroupsSequence = groups
    expected = _pixels(_dicom_bytes(_multi_frame(frames, WindowCenter=2048, WindowWidth=4096)))
    [projection] = decode(_dicom_bytes(ds), "x.dcm", FrameSelection("mip"))
    assert np.array_equal(projection.pixels, expected)


def test_a_projection_under_a_negative_rescale_slope_is_the_brightest_as_displayed():
    """A negative slope shows low stored values bright, as MONOCHROME1 does: the projection keeps the lowest."""
    frames = np.stack([RAMP, RAMP // 2, RAMP // 4])
    ds = _multi_frame(frames, RescaleSlope=-1, RescaleIntercept=4095)
    [projection] = decode(_dicom_bytes(ds), "x.dcm", FrameSelection("mip"))
    brightest = _multi_frame(frames[2:], RescaleSlope=-1, RescaleIntercept=4095)  # RAMP // 4 everywhere lowest
    ds.PixelData, ds.NumberOfFrames = brightest.PixelData, 1
    assert np.array_equal(projection.pixels, _pixels(_dicom_bytes(ds)))


def test_a_window_after_a_modality_lut_is_judged_against_the_lut_s_depth():
    """A window over the modality LUT's 12-bit output is what was shown, not one written for deeper pixels than
    the 8 bits stored: displayed as the same values stored in 12 bits are."""
    eight = (RAMP // 16).astype(np.uint8)
    lut = pydicom.Dataset()
    lut.LUTDescriptor = [256, 0, 12]
    lut.add_new(0x00283006, "US", (np.arange(256) * 16).tolist())
    ds = _grey(eight, 8, ModalityLUTSequence=[lut], WindowCenter=2048, WindowWidth=4096)
    twelve = _grey(eight.astype(np.uint16) * 16, 12, WindowCenter=2048, WindowWidth=4096)
    assert np.array_equal(_pixels(_dicom_bytes(ds)), _pixels(_dicom_bytes(twelve)))


def test_a_linear_exact_window_is_the_standard_s_and_may_be_narrower_than_1():
    """LINEAR_EXACT (PS3.3 C.11.2.1.3.2) runs from centre - width / 2 to centre + width / 2, with no half-value
    offset, and any width above 0: float data often needs one under 1."""
    values = np.linspace(-1, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    ds = _grey(RAMP, 12, VOILUTFunction="LINEAR_EXACT", WindowCenter=0.25, WindowWidth=0.5)
    for keyword in ("PixelData", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation"):
        delattr(ds, keyword)
    ds.FloatPixelData = values.tobytes()
    assert np.abs(_pixels(_dicom_bytes(ds)) - np.clip(np.rint(values / 0.5 * 255), 0, 255)).max() <= 1
    integers = _grey(RAMP, 12, VOILUTFunction="LINEAR_EXACT", WindowCenter=2048, WindowWidth=1024)
    expected = np.clip(np.rint((RAMP - 1536.0) / 1024 * 255), 0, 255)
    assert np.abs(_pixels(_dicom_bytes(integers)) - expected).max() <= 1
