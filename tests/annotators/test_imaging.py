import gzip
import io
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from annotators.imaging import DecodeError, FrameSelection, decode, encode_png, resize_long_side
from annotators.imaging.raster import displayed_size
from annotators.imaging.types import MAX_PIXELS
from annotators.quality import QualityConfig, check_image


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dicom_ct_rescaled_and_windowed():
    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    [image] = decode(data, "CT_small.dcm")
    assert image.pixels.dtype == np.uint8 and image.pixels.shape == (128, 128)
    assert image.modality == "CT" and image.pixel_spacing and image.frame == -1
    assert image.pixels.std() > 10


def test_dicom_monochrome1_is_inverted():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    [plain] = decode(open(get_testdata_file("CT_small.dcm"), "rb").read(), "a.dcm")
    ds.PhotometricInterpretation = "MONOCHROME1"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    [inverted] = decode(buffer.getvalue(), "b.dcm")
    assert np.array_equal(inverted.pixels, 255 - plain.pixels)


def test_a_photometric_interpretation_in_lower_case_is_read_as_the_standard_spells_it():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    [plain] = decode(open(get_testdata_file("CT_small.dcm"), "rb").read(), "a.dcm")
    ds.PhotometricInterpretation = "monochrome1"  # as some exporters write it; pydicom knows only "MONOCHROME1"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    [inverted] = decode(buffer.getvalue(), "b.dcm")
    assert np.array_equal(inverted.pixels, 255 - plain.pixels)


def test_dicom_multiframe_selection():
    data = open(get_testdata_file("emri_small.dcm"), "rb").read()  # 10 frames
    assert [i.frame for i in decode(data, "e.dcm")] == [5]
    assert [i.frame for i in decode(data, "e.dcm", FrameSelection("even", 3))] == [1, 5, 8]
    assert [i.frame for i in decode(data, "e.dcm", FrameSelection("mip"))] == [-2]


def test_broken_dicom_is_a_clear_reject():
    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    with pytest.raises(DecodeError) as err:
        decode(data[: len(data) // 2], "cut.dcm")
    assert err.value.reason == "truncated_file"
    with pytest.raises(DecodeError, match="empty_file"):
        decode(b"", "x.png")


def _dicom_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def test_dicom_whose_pixel_data_disagrees_with_its_header_is_a_reject_not_an_image():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))  # 128 x 128, 16-bit, one frame
    frames = np.stack([ds.pixel_array] * 3)
    stacked = ds.copy()
    stacked.PixelData = frames.tobytes()  # three frames, no NumberOfFrames: pydicom would return a stack
    short = ds.copy()
    short.Rows = 64  # the data holds twice the rows the header states
    for broken in (stacked, short):
        with pytest.raises(DecodeError) as err:
            decode(_dicom_bytes(broken), "x.dcm")
        assert err.value.reason == "corrupt_pixel_data" and "the header describes" in err.value.detail


@pytest.mark.parametrize("modality,view,body_part,expected", [
    ("DX", "PA", "CHEST", ("DX", "PA", "CHEST")),
    ("CR", "AP SUPINE", "PORT CHEST", ("CR", "AP SUPINE", "PORT CHEST")),
    ("CT", "", "CHEST_TO_PELVIS", ("CT", "", "CHEST_TO_PELVIS")),
    ("DX", "PA SMITHEE", "CHEST JSMITH", ("DX", "PA", "CHEST")),  # a name typed into a code string
    ("OT", "DOE^JANE", "1234567", ("OT", "", "")),
])
def test_dicom_code_strings_leave_decoding_with_their_code_words_only(modality, view, body_part, expected):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.Modality, ds.ViewPosition, ds.BodyPartExamined = modality, view, body_part
    image = decode(_dicom_bytes(ds), "x.dcm")[0]
    assert (image.modality, image.view, image.body_part) == expected


def test_nifti_colour_volume_is_shown_as_its_luminance():
    rgb = np.zeros((8, 6, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"][2:5, 1:4] = 200
    rgb["G"][..., 1] = 100
    [image] = decode(nib.Nifti1Image(rgb, np.eye(4)).to_bytes(), "rgb.nii")
    luminance = np.float32(0.299) * rgb["R"][..., 1] + np.float32(0.587) * rgb["G"][..., 1]
    assert image.pixels.shape == (6, 8) and image.frame == 1
    assert np.array_equal(image.pixels > image.pixels.min(), luminance[::-1, ::-1].T > luminance.min())


def test_deep_raster_with_non_finite_or_negative_values_keeps_its_content():
    ramp = np.linspace(-500, 1500, 64 * 48, dtype=np.float32).reshape(48, 64)
    with_nan = ramp.copy()
    with_nan[0, 0] = np.nan
    for values in (with_nan, ramp.astype(np.int32), np.abs(ramp)):
        buffer = io.BytesIO()
        Image.fromarray(values).save(buffer, format="TIFF")
        [image] = decode(buffer.getvalue(), "deep.tif")
        assert image.pixels[-1, -1] == 255 and image.pixels.std() > 50  # a ramp, not a blank
    assert image.pixels[0, 0] == round(500 / 1500 * 255)  # no negatives: the window still starts at 0
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), np.nan, dtype=np.float32)).save(buffer, format="TIFF")
    with pytest.raises(DecodeError, match="empty_pixels"):
        decode(buffer.getvalue(), "nan.tif")


def test_a_label_burned_in_at_the_top_of_a_16_bit_image_does_not_darken_it():
    twelve_bit = (np.add.outer(np.arange(48), np.arange(64)) * 36).astype(np.uint16)  # 0 to 3960
    labelled = twelve_bit.copy()
    labelled[2:5, 2:20] = 65535  # 1.8% of the pixels
    [plain] = decode(_png(twelve_bit), "plain.png")
    [image] = decode(_png(labelled), "labelled.png")
    assert np.array_equal(image.pixels[6:], plain.pixels[6:]) and image.pixels[3, 10] == 255
    full_range = twelve_bit * 16  # 16-bit data up to 63360, over half the range: the window ends at the label
    full_range[2:5, 2:20] = 65535
    [bright] = decode(_png(full_range), "full.png")
    assert bright.pixels[-1, -1] == round(63360 / 65535 * 255)


def test_nifti_canonical_middle_slice():
    path = str(Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii")
    [image] = decode(open(path, "rb").read(), "anatomical.nii")
    volume = nib.as_closest_canonical(nib.load(path))
    x, y, z = volume.shape[:3]
    assert image.pixels.shape == (y, x) and image.frame == z // 2 and image.view == "axial"
    gz = gzip.compress(open(path, "rb").read(), mtime=0)
    assert np.array_equal(decode(gz, "anatomical.nii.gz")[0].pixels, image.pixels)


@pytest.mark.parametrize("thin, view", [(1, "coronal"), (0, "sagittal")])
def test_a_volume_one_voxel_thick_is_its_coronal_or_sagittal_plane(thin, view):
    """Its axial slices would be lines (a bad_volume_shape reject): the plane is shown with superior at the top and
    the patient's right (coronal) or front (sagittal) on the image's left, as radiology shows it."""
    shape = [40, 40, 30]
    shape[thin] = 1
    volume = np.zeros(shape, np.int16)
    volume[(slice(-4, None) if thin else 0, slice(-4, None) if not thin else 0, slice(-3, None))] = 500  # high x/y, z
    [image] = decode(nib.Nifti1Image(volume, np.diag([0.5, 0.8, 2.0, 1.0])).to_bytes(), "plane.nii")
    assert image.view == view and image.pixels.shape == (30, 40) and image.frame == 0
    assert image.pixel_spacing == pytest.approx((2.0, 0.5 if thin == 1 else 0.8))
    assert image.pixels[:3, :4].min() > image.pixels[3:, 4:].max()  # the marked corner at the top left


def test_raster_modes_become_grey():
    grey = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(48, 64)
    for data in (_png(grey), _png(np.stack([grey] * 3, -1)), _png(np.dstack([grey] * 3 + [grey])),
                 _png(grey.astype(np.uint16) * 257)):
        [image] = decode(data, "x.png")
        assert image.pixels.shape == (48, 64) and image.pixels.dtype == np.uint8


def test_truncated_png_and_bomb_are_rejected():
    data = _png(np.random.default_rng(0).integers(0, 255, (256, 256), dtype=np.uint8))
    with pytest.raises(DecodeError) as err:
        decode(data[: len(data) // 2], "cut.png")
    assert err.value.reason == "truncated_image"
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    for side in (int(MAX_PIXELS**0.5) + 10, 4 * int(MAX_PIXELS**0.5)):  # the second past Pillow's own limit too
        header = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        bomb = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")
        with pytest.raises(DecodeError) as err:
            decode(bomb, "bomb.png")
        assert err.value.reason == "decompression_bomb" and f"limit of {MAX_PIXELS:,} pixels" in err.value.detail


def test_resize_keeps_aspect_and_encode_is_deterministic():
    [image] = decode(open(get_testdata_file("CT_small.dcm"), "rb").read(), "a.dcm")
    small = resize_long_side(image, 64)
    assert small.pixels.shape == (64, 64) and small.orig_width == 128
    assert small.pixel_spacing[0] == pytest.approx(image.pixel_spacing[0] * 2)
    assert resize_long_side(image, 1024) is image
    assert encode_png(small.pixels) == encode_png(small.pixels.copy())


def test_stored_png_reads_back_as_the_same_greyscale_pixels():
    """The encoder (OpenCV, run-length zlib) writes 8-bit greyscale PNGs that Pillow, which `datasets` decodes
    with, reads back pixel for pixel; a view into a larger array is encoded as its own pixels."""
    [image] = decode(open(get_testdata_file("RG1_UNCI.dcm"), "rb").read(), "cr.dcm")
    pixels = resize_long_side(image, 512).pixels
    for array in (pixels, pixels[10:300, 20:400]):
        read = Image.open(io.BytesIO(encode_png(array)))
        assert read.mode == "L" and np.array_equal(np.asarray(read), array)


def test_a_window_that_holds_no_stored_value_gives_way_to_the_automatic_one():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))  # no window; stored values 128 to 2191
    [automatic] = decode(_dicom_bytes(ds), "a.dcm")
    ds.WindowCenter, ds.WindowWidth = 40000, 10  # copied from another image: every pixel below it, all black
    [windowed] = decode(_dicom_bytes(ds), "b.dcm")
    assert automatic.pixels.std() > 10 and np.array_equal(windowed.pixels, automatic.pixels)


def test_a_window_far_wider_than_the_stored_bits_gives_way_to_the_automatic_one():
    """A 12-bit window kept on pixels cut to 8 bits would show them in 16 of 256 grey levels, which the quality
    filter then rejects as near constant; a window up to 4 times the stored range is what was shown, and is kept."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    stored = (ds.pixel_array // 9).astype(np.uint8)  # 14 to 243
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = stored.tobytes()
    del ds.RescaleIntercept, ds.RescaleSlope
    [automatic] = decode(_dicom_bytes(ds), "a.dcm")
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    [twelve_bit] = decode(_dicom_bytes(ds), "b.dcm")
    assert np.array_equal(twelve_bit.pixels, automatic.pixels) and automatic.pixels.std() > 10
    assert check_image(twelve_bit.pixels, 128, 128, QualityConfig()) is None
    ds.WindowCenter, ds.WindowWidth = 128, 1024
    [wide] = decode(_dicom_bytes(ds), "c.dcm")
    assert wide.pixels.max() - wide.pixels.min() < 64  # honoured as the header states it


def test_presentation_lut_shape_inverse_displays_monochrome2_inverted_once():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    [plain] = decode(_dicom_bytes(ds), "a.dcm")
    ds.PresentationLUTShape = "INVERSE"
    [inverse] = decode(_dicom_bytes(ds), "b.dcm")
    assert np.array_equal(inverse.pixels, 255 - plain.pixels)
    ds.PhotometricInterpretation = "MONOCHROME1"  # which states INVERSE beside it (PS3.3 C.8.11): one inversion
    assert np.array_equal(decode(_dicom_bytes(ds), "c.dcm")[0].pixels, inverse.pixels)


def test_content_decides_the_format_before_the_extension():
    grey = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    jpeg = io.BytesIO()
    Image.fromarray(grey).save(jpeg, format="JPEG")
    for data in (_png(grey), jpeg.getvalue()):
        [image] = decode(data, "named.dcm")
        assert np.abs(image.pixels.astype(int) - grey).mean() < 2
    no_preamble = Path(get_testdata_file("OT-PAL-8-face.dcm")).read_bytes()  # DICOM without preamble or meta
    assert no_preamble[128:132] != b"DICM" and decode(no_preamble, "face.dcm")[0].pixels.shape == (480, 640)


def test_a_dicom_without_preamble_or_suffix_is_still_a_dicom():
    no_preamble = Path(get_testdata_file("OT-PAL-8-face.dcm")).read_bytes()  # opens on tag (0008,0005)
    assert decode(no_preamble, "IM000001")[0].pixels.shape == (480, 640)
    with pytest.raises(DecodeError) as bare_bytes:  # two bytes that open as a data set are no proof of one
        decode(b"\x08\x00" + b"not an image" * 8, "IM000002")
    assert bare_bytes.value.reason == "unknown_format"
    with pytest.raises(DecodeError, match="unknown_format"):
        decode(b"not an image at all", "IM000002")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_volume_whose_affine_cannot_be_decomposed_keeps_its_stored_axes(value):
    volume = np.arange(40 * 30 * 5, dtype=np.int16).reshape(40, 30, 5) % 97
    raw = bytearray(nib.Nifti1Image(volume, np.eye(4)).to_bytes())
    raw[280:284] = np.float32(value).tobytes()  # srow_x[0], the sform (code 2) in force
    [image] = decode(bytes(raw), "scan.nii")
    assert np.array_equal(image.pixels, decode(nib.Nifti1Image(volume, np.eye(4)).to_bytes(), "scan.nii")[0].pixels)


def test_analyze_and_nifti_header_image_pairs_are_unsupported_not_truncated(tmp_path):
    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    for pair_class in (nib.Nifti1Pair, nib.Nifti2Pair, nib.AnalyzeImage):
        nib.save(pair_class(volume, np.eye(4)), tmp_path / "pair.img")
        for name in ("pair.hdr", "pair.img"):
            with pytest.raises(DecodeError) as err:
                decode((tmp_path / name).read_bytes(), name)
            assert err.value.reason == "unsupported_format" and "convert it to .nii" in err.value.detail
    nib.save(nib.Nifti1Pair(volume, np.eye(4)), tmp_path / "nifti.img")
    with pytest.raises(DecodeError, match="unsupported_format"):  # a NIfTI header says so whatever its name
        decode((tmp_path / "nifti.hdr").read_bytes(), "header")


def test_orig_size_is_the_displayed_size_in_every_format():
    stored = np.zeros((300, 200), dtype=np.uint8)  # 200 wide, 300 high as stored; orientation 6 turns it
    stored[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    for fmt, options in (("TIFF", {"tiffinfo": {0x0112: 6}}), ("JPEG", {"exif": exif.tobytes()}),
                         ("PNG", {"exif": exif.tobytes()})):
        buffer = io.BytesIO()
        Image.fromarray(stored).save(buffer, format=fmt, **options)
        [image] = decode(buffer.getvalue(), f"r.{fmt.lower()}")
        assert image.pixels.shape == (200, 300) and (image.orig_width, image.orig_height) == (300, 200), fmt
        assert image.pixels[:10].mean() > 200  # the bright left columns became the top rows
        with Image.open(io.BytesIO(buffer.getvalue())) as header:
            assert displayed_size(header) == (300, 200), fmt


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))  # PNG spec


def _png_of_rows(raw_rows: bytes, width: int, height: int, interlace: int = 0) -> bytes:
    """A greyscale 8-bit PNG whose one, complete zlib stream holds `raw_rows` (each row: filter byte, pixels)."""
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw_rows))
            + chunk(b"IEND", b""))


def test_png_whose_complete_zlib_stream_holds_too_few_rows_is_truncated():
    grey = np.tile(np.arange(13, dtype=np.uint8) * 19 + 5, (11, 1))  # 13 x 11: no multiple of Adam7's 8
    rows = lambda a: b"".join(b"\0" + row.tobytes() for row in a)
    assert np.array_equal(decode(_png_of_rows(rows(grey), 13, 11), "ok.png")[0].pixels, grey)
    with pytest.raises(DecodeError) as err:
        decode(_png_of_rows(rows(grey[:5]), 13, 11), "short.png")  # Pillow showed rows 5-10 black
    assert err.value.reason == "truncated_image" and "70 of the 154 bytes" in err.value.detail
    passes = [rows(grey[y0::dy, x0::dx]) for x0, y0, dx, dy in ADAM7 if grey[y0::dy, x0::dx].size]
    assert np.array_equal(decode(_png_of_rows(b"".join(passes), 13, 11, interlace=1), "adam7.png")[0].pixels, grey)
    with pytest.raises(DecodeError, match="truncated_image"):
        decode(_png_of_rows(b"".join(passes[:-1]), 13, 11, interlace=1), "adam7-short.png")


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_complete_png_with_a_black_last_row_decodes_in_every_mode(mode):
    grey = np.tile(np.linspace(0, 255, 37, dtype=np.uint8), (21, 1))
    grey[-3:] = 0
    image = Image.fromarray(grey).convert(mode) if mode != "I;16" else Image.fromarray(grey.astype(np.uint16) * 257)
    [decoded] = decode(_saved(image), "black-bottom.png")
    assert decoded.pixels.shape == (21, 37) and not decoded.pixels[-3:].any()


def _saved(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_an_alpha_channel_zero_everywhere_is_no_transparency():
    """Transparency is shown over black, as a radiograph's padding; an alpha channel that is zero everywhere (a 32-bit
    BMP's, an array saved with its fourth channel unset) was never transparency: the picture is in its colour."""
    grey = np.tile(np.linspace(0, 255, 37, dtype=np.uint8), (21, 1))
    unset = np.dstack([grey] * 3 + [np.zeros_like(grey)])
    for fmt in ("PNG", "TIFF"):
        [image] = decode(_saved(Image.fromarray(unset), fmt), f"x.{fmt.lower()}")
        assert np.array_equal(image.pixels, grey), fmt
    padded = unset.copy()
    padded[:, 5:, 3] = 255  # the first five columns transparent
    [image] = decode(_saved(Image.fromarray(padded)), "padded.png")
    assert not image.pixels[:, :5].any() and np.array_equal(image.pixels[:, 5:], grey[:, 5:])


def test_a_cielab_image_is_shown_as_its_lightness():
    grey = np.tile(np.linspace(0, 255, 37, dtype=np.uint8), (21, 1))
    neutral = Image.new("L", (37, 21), 128)  # a* and b* of grey
    [image] = decode(_saved(Image.merge("LAB", [Image.fromarray(grey), neutral, neutral]), "TIFF"), "lab.tif")
    assert np.array_equal(image.pixels, grey)


CINE = [Image.fromarray(np.full((12, 16), value, np.uint8)) for value in (10, 60, 110, 160, 210)]


def test_an_animation_s_frames_are_selected_as_a_multi_frame_dicom_s():
    for fmt, options in (("PNG", {}), ("GIF", {}), ("WEBP", {"lossless": True})):
        data = _saved(CINE[0], fmt, save_all=True, append_images=CINE[1:], **options)
        assert [(image.frame, image.pixels[0, 0]) for image in decode(data, "cine")] == [(2, 110)], fmt
        assert [image.frame for image in decode(data, "cine", FrameSelection("even", 3))] == [0, 2, 4], fmt
        [projection] = decode(data, "cine", FrameSelection("mip"))
        assert projection.frame == -2 and projection.pixels[0, 0] == 210, fmt
    poster = _saved(Image.new("L", (16, 12), 255), save_all=True, append_images=CINE, default_image=True)
    assert [(image.frame, image.pixels[0, 0]) for image in decode(poster, "cine.png")] == [(2, 110)]  # no frame
    thumbnail = _saved(CINE[0], "TIFF", save_all=True, append_images=[CINE[1].resize((4, 3))])  # pages, no frames
    assert [(image.frame, image.pixels.shape) for image in decode(thumbnail, "scan.tif")] == [(-1, (12, 16))]


def test_an_animation_is_refused_before_decoding_more_frames_than_the_limit(monkeypatch):
    monkeypatch.setattr("annotators.imaging.raster.MAX_VOXELS", 4 * 12 * 16)  # four frames
    data = _saved(CINE[0], "GIF", save_all=True, append_images=CINE[1:])
    assert [image.frame for image in decode(data, "cine.gif")] == [2]  # decodes frames 0 to 2
    with pytest.raises(DecodeError) as err:
        decode(data, "cine.gif", FrameSelection("mip"))
    assert err.value.reason == "image_too_large" and "up to frame 4 (of 5)" in err.value.detail


def test_exif_orientation_is_read_from_the_header_alone():
    """Connectors size images with `displayed_size` without decoding them, and decoding agrees: a PNG's eXIf chunk
    counts only before the image data, where the PNG specification places it."""
    stored = np.zeros((30, 20), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    early = _saved(Image.fromarray(stored), exif=exif.tobytes())
    start = early.index(b"eXIf") - 4
    end = start + 12 + int.from_bytes(early[start:start + 4], "big")
    late = early[:start] + early[end:-12] + early[start:end] + early[-12:]  # after IDAT, before IEND
    for data, displayed in ((early, (30, 20)), (late, (20, 30)), (_saved(Image.fromarray(stored)), (20, 30))):
        with Image.open(io.BytesIO(data)) as header:
            assert displayed_size(header) == displayed and header.tile  # nothing decoded
        [image] = decode(data, "x.png")
        assert (image.orig_width, image.orig_height) == displayed == image.pixels.shape[::-1]


def test_a_format_not_read_here_is_unsupported_and_a_known_header_that_cannot_be_read_is_no_unknown_format():
    with pytest.raises(DecodeError) as err:
        decode(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "figure.png")  # Pillow knows it
    assert err.value.reason == "unsupported_format" and err.value.detail.startswith("EPS")
    grey = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    jpeg, webp = _saved(Image.fromarray(grey), "JPEG"), _saved(Image.fromarray(grey), "WEBP")
    for data, reason, detail in ((_png_of_rows(b"", 0, 11), "corrupt_image", "states no size"),
                                 (_saved(Image.fromarray(grey))[:30], "truncated_image", "PNG header"),
                                 (jpeg[:jpeg.index(b"\xff\xda")], "truncated_image", "end marker (FFD9)"),
                                 (webp[:len(webp) // 2], "truncated_image", "before its RIFF header says")):
        with pytest.raises(DecodeError) as err:
            decode(data, "x")
        assert err.value.reason == reason and detail in err.value.detail


def test_complex_voxels_are_shown_as_their_magnitude():
    magnitude = (np.arange(20 * 16 * 6, dtype=np.float32).reshape(20, 16, 6) % 37) + 1
    phase = np.exp(1j * np.linspace(0, 3, magnitude.size)).reshape(magnitude.shape)
    [image] = decode(nib.Nifti1Image((magnitude * phase).astype(np.complex64), np.eye(4)).to_bytes(), "c.nii")
    [expected] = decode(nib.Nifti1Image(magnitude, np.eye(4)).to_bytes(), "m.nii")
    assert np.abs(image.pixels.astype(int) - expected.pixels).max() <= 1


def test_a_projection_leaves_nan_voxels_out():
    volume = np.random.default_rng(0).uniform(0, 100, (20, 16, 6)).astype(np.float32)
    outside = volume.copy()
    outside[:5, :, 2] = np.nan  # outside the field of view on one slice, as resampled volumes mark it
    volume[:5, :, 2] = 0
    [projected], [expected] = (decode(nib.Nifti1Image(values, np.eye(4)).to_bytes(), "v.nii", FrameSelection("mip"))
                               for values in (outside, volume))
    assert np.array_equal(projected.pixels, expected.pixels)


@pytest.mark.parametrize("dims", [(4, 20, 16, 6, 0), (3, -20, 16, 6)])  # a series of no volumes; a negative extent
def test_a_volume_with_an_extent_of_zero_or_less_is_a_bad_shape(dims):
    raw = bytearray(nib.Nifti1Image(np.zeros((20, 16, 6, 1), np.int16), np.eye(4)).to_bytes())
    raw[40:40 + 2 * len(dims)] = struct.pack(f"<{len(dims)}h", *dims)  # dim[0] (the rank) and the extents
    with pytest.raises(DecodeError, match="bad_volume_shape"):
        decode(bytes(raw), "v.nii")


@pytest.mark.parametrize("frames", [FrameSelection(), FrameSelection("mip")])
def test_a_nifti_2_extent_whose_product_overflows_64_bits_is_a_reject(frames):
    """NIfTI-2 extents are 64-bit: their product, counted in 64 bits, wrapped below the file's size and nibabel
    was asked to read past any index."""
    raw = bytearray(nib.Nifti2Image(np.zeros((20, 16, 6), np.float32), np.eye(4)).to_bytes())
    raw[40:48] = struct.pack("<q", 2**61)  # dim[3], the slices
    with pytest.raises(DecodeError) as err:
        decode(bytes(raw), "v.nii", frames)
    assert err.value.reason in ("truncated_file", "image_too_large")


@pytest.mark.parametrize("pixdim", [float("nan"), float("inf")])  # (nibabel reads a 0 as 1)
def test_a_voxel_size_that_is_not_finite_leaves_the_spacing_unknown(pixdim):
    raw = bytearray(nib.Nifti1Image(np.arange(20 * 16 * 6, dtype=np.int16).reshape(20, 16, 6), np.eye(4)).to_bytes())
    raw[84:88] = np.float32(pixdim).tobytes()  # pixdim[2]: the rows' spacing
    assert decode(bytes(raw), "v.nii")[0].pixel_spacing == ()


def test_gzip_is_sniffed_by_what_it_inflates_to(tmp_path):
    volume = np.arange(20 * 16 * 6, dtype=np.int16).reshape(20, 16, 6)
    nii = nib.Nifti1Image(volume, np.eye(4)).to_bytes()
    [expected] = decode(nii, "scan.nii")
    for data, name in ((gzip.compress(nii), "scan.gz"), (gzip.compress(nii), "scan"), (nii, "scan.nii.gz")):
        assert np.array_equal(decode(data, name)[0].pixels, expected.pixels), name
    nib.save(nib.Nifti1Pair(volume, np.eye(4)), tmp_path / "pair.img.gz")
    for name in ("pair.hdr.gz", "pair.img.gz"):
        with pytest.raises(DecodeError) as err:
            decode((tmp_path / name).read_bytes(), name)
        assert err.value.reason == "unsupported_format" and "convert it to .nii" in err.value.detail
    for data, name, reason, detail in ((gzip.compress(b"a report"), "notes.gz", "unsupported_format", "decompress"),
                                       (b"not a volume" * 40, "scan.nii.gz", "corrupt_nifti", "no NIfTI magic"),
                                       (gzip.compress(nii, 0)[:200], "scan.nii.gz", "truncated_file", "header")):
        with pytest.raises(DecodeError) as err:
            decode(data, name)
        assert err.value.reason == reason and detail in err.value.detail, name
