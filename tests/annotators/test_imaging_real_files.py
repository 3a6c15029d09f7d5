"""Decoding real files: pydicom's and pydicom-data's DICOM test files, nibabel's NIfTI files, PIL-written rasters."""
import dataclasses
import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from annotators.imaging import DecodeError, FrameSelection, decode, resize_long_side
from annotators.imaging.dicom import ALLOWED_ATTRIBUTES
from annotators.imaging.raster import displayed_size

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def _dicom(name: str, frames: FrameSelection = FrameSelection()):
    return decode(Path(get_testdata_file(name)).read_bytes(), name, frames)


def _saved(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


# --- DICOM --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("group,tolerance", [
    (("MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
      "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_expb.dcm"), 0),
    (("emri_small.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm", "emri_small_jpeg_ls_lossless.dcm",
      "emri_small_big_endian.dcm"), 0),
    # the CR chest (1955 x 1841, MONOCHROME1) and its JPEG 2000 twin, whose stored values differ slightly
    (("RG1_UNCI.dcm", "RG1_J2KR.dcm"), 3),
    (("US1_UNCR.dcm", "US1_J2KR.dcm"), 0),  # colour ultrasound
    (("SC_rgb.dcm", "SC_rgb_rle.dcm", "SC_rgb_expb.dcm", "SC_rgb_gdcm2k_uncompressed.dcm"), 0),
])
def test_transfer_syntaxes_of_one_image_decode_alike(group, tolerance):
    images = [_dicom(name, FrameSelection("even", 3)) for name in group]
    for name, decoded in zip(group[1:], images[1:]):
        assert [i.frame for i in decoded] == [i.frame for i in images[0]], name
        for a, b in zip(images[0], decoded):
            assert a.pixels.shape == b.pixels.shape and np.abs(a.pixels.astype(int) - b.pixels).max() <= tolerance, name


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPEG2000.dcm", "JPEGLSNearLossless_16.dcm", "image_dfl.dcm",
                                  "SC_rgb_jpeg_dcmtk.dcm", "examples_ybr_color.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
                                  "MR2_J2KI.dcm", "693_J2KI.dcm", "color3d_jpeg_baseline.dcm"])
def test_compressed_and_colour_files_decode(name):
    [image] = _dicom(name)
    assert image.pixels.dtype == np.uint8 and image.pixels.ndim == 2 and image.pixels.std() > 10


@pytest.mark.parametrize("name,reason", [
    # 12-bit JPEG Extended, which pylibjpeg decodes (JPGExtended.dcm), but this codestream breaks the sequential
    # mode's rules ("Invalid SOS parameters for sequential JPEG", GDCM says)
    ("JPEG-lossy.dcm", "corrupt_pixel_data"),
    ("JPEG2000-embedded-sequence-delimiter.dcm", "corrupt_pixel_data"),  # 4 bytes of the codestream overwritten
    ("MR_truncated.dcm", "truncated_file"),
    ("emri_small_jpeg_2k_lossless_too_short.dcm", "truncated_file"),
    ("rtplan.dcm", "no_pixel_data"),
    ("badVR.dcm", "corrupt_dicom"),
])
def test_what_cannot_decode_is_a_clear_reject(name, reason):
    with pytest.raises(DecodeError) as err:
        _dicom(name)
    assert err.value.reason == reason and err.value.detail
    if name == "JPEG-lossy.dcm":
        assert "JPEG Extended" in err.value.detail and "12-bit" in err.value.detail


def test_monochrome1_chest_is_displayed_with_dark_lungs():
    [image] = _dicom("RG1_UNCI.dcm")
    h, w = image.pixels.shape
    band = lambda f: image.pixels[h // 2 - 100 : h // 2 + 100, int(f * w) - 50 : int(f * w) + 50].mean()
    assert band(0.5) > band(0.3) + 30 and band(0.5) > band(0.7) + 30  # mediastinum brighter than both lungs
    assert image.modality == "CR" and image.orig_width == 1841 and image.pixel_spacing


def test_rescale_and_window_follow_the_standard():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.RescaleSlope, ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 2, -1000, 40, 400
    [image] = decode(_saved(ds), "ct.dcm")
    values = ds.pixel_array.astype(float) * 2 - 1000
    low, high = 40 - 0.5 - 399 / 2, 40 - 0.5 + 399 / 2
    expected = np.clip(np.rint((values - low) / (high - low) * 255), 0, 255)
    assert np.abs(image.pixels - expected).max() <= 1


def test_voi_lut_sequence_and_modality_lut_sequence_files():
    for name, sequence in (("vlut_04.dcm", "VOILUTSequence"), ("mlut_18.dcm", "ModalityLUTSequence")):
        ds = pydicom.dcmread(get_testdata_file(name))
        assert sequence in ds
        [image] = _dicom(name)
        from pydicom.pixels import apply_modality_lut, apply_voi_lut

        reference = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
        assert np.corrcoef(image.pixels.ravel(), reference.ravel())[0, 1] > 0.99, name


def test_enhanced_ct_uses_its_functional_groups():
    ds = pydicom.dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    images = _dicom("eCT_Supplemental.dcm", FrameSelection("even", 2))
    assert [i.frame for i in images] == [0, 1] and images[0].pixel_spacing == pytest.approx((0.388672, 0.388672))
    group = ds.SharedFunctionalGroupsSequence[0]  # this file states its window and rescale once for all frames
    centre, width = float(group.FrameVOILUTSequence[0].WindowCenter), float(group.FrameVOILUTSequence[0].WindowWidth)
    values = ds.pixel_array[1] * float(group.PixelValueTransformationSequence[0].RescaleSlope) + float(
        group.PixelValueTransformationSequence[0].RescaleIntercept)
    low, high = centre - 0.5 - (width - 1) / 2, centre - 0.5 + (width - 1) / 2
    expected = np.clip(np.rint((values - low) / (high - low) * 255), 0, 255)
    assert np.abs(images[1].pixels - expected).max() <= 1


def test_only_allow_listed_attributes_leave_the_decoder():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Okafor^Grace", "PID-99182733", "19510612"
    ds.InstitutionName, ds.ReferringPhysicianName, ds.AccessionNumber = "Mercy Valley", "Reed^Alan", "A77120034"
    ds.BodyPartExamined, ds.ViewPosition = "CHEST", "PA"
    [image] = decode(_saved(ds), "ct.dcm")
    fields = {k: v for k, v in dataclasses.asdict(image).items() if k != "pixels"}
    text = repr(fields)
    for secret in ("Okafor", "Grace", "PID-99182733", "19510612", "Mercy", "Reed", "A77120034"):
        assert secret not in text
    assert (image.modality, image.body_part, image.view) == ("CT", "CHEST", "PA")
    assert set(ALLOWED_ATTRIBUTES) == {"Modality", "ViewPosition", "BodyPartExamined", "PixelSpacing",
                                       "ImagerPixelSpacing"}


def _luminance_of_palette(name: str) -> np.ndarray:
    """The palette colour file's luminance on 0-255, from the LUT's own entry depth (its descriptor's 3rd value)."""
    from pydicom.pixels import apply_color_lut

    ds = pydicom.dcmread(get_testdata_file(name), force=True)
    ds.file_meta.TransferSyntaxUID = ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian)
    rgb = apply_color_lut(ds.pixel_array, ds)[..., :3].astype(np.float64)
    return rgb @ [0.299, 0.587, 0.114] * 255 / (2 ** ds.RedPaletteColorLookupTableDescriptor[2] - 1)


@pytest.mark.parametrize("name,mean", [("OBXXXX1A.dcm", 12), ("OT-PAL-8-face.dcm", 101),
                                       ("examples_palette.dcm", 19)])
def test_palette_colour_with_16_bit_entries_is_scaled_by_the_entry_depth(name, mean):
    [image] = _dicom(name)  # 8-bit indices into 16-bit LUT entries: not almost white
    assert abs(image.pixels.mean() - mean) < 1.5 and (image.pixels == 255).mean() < 0.01
    assert np.abs(image.pixels - _luminance_of_palette(name)).max() <= 1


def test_a_big_endian_palette_is_read_in_its_byte_order():
    [big_endian] = _dicom("OBXXXX1A_expb.dcm")  # the palette's 16-bit words are stored big endian
    assert np.array_equal(big_endian.pixels, _dicom("OBXXXX1A.dcm")[0].pixels)


def _encapsulated(name: str, frames: list[bytes]) -> bytes:
    """The file `name` with `frames` as its compressed frames (each padded to an even length)."""
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(get_testdata_file(name))
    ds.PixelData = encapsulate([frame + b"\0" * (len(frame) % 2) for frame in frames])
    ds["PixelData"].is_undefined_length = True
    ds.NumberOfFrames = len(frames)
    return _saved(ds)


def _frames(name: str) -> list[bytes]:
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(get_testdata_file(name))
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "JPEG-LL.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "MR_small_jp2klossless.dcm", "emri_small_jpeg_ls_lossless.dcm"])
def test_a_compressed_frame_cut_short_is_truncated_not_an_image(name):
    frames = _frames(name)
    middle = len(frames) // 2
    padded = [frame.rstrip(b"\0") + b"\xff" for frame in frames]  # odd-length codestreams padded as some writers do
    intact = decode(_encapsulated(name, padded), name)
    assert [i.frame for i in intact] == [middle if len(frames) > 1 else -1]
    for fraction in (0.5, 0.9):
        cut = frames[:middle] + [frames[middle][: int(len(frames[middle]) * fraction)]] + frames[middle + 1:]
        with pytest.raises(DecodeError) as err:
            decode(_encapsulated(name, cut), name)
        assert err.value.reason == "truncated_file" and f"frame {middle}'s" in err.value.detail, (name, fraction)
    if len(frames) > 1:  # the frames chosen decode; a projection over all of them finds the cut one
        assert decode(_encapsulated(name, cut), name, FrameSelection("even", 2))[0].pixels.std() > 0
        with pytest.raises(DecodeError, match="truncated_file"):
            decode(_encapsulated(name, cut), name, FrameSelection("mip"))


def test_damaged_data_in_a_decodable_syntax_is_corrupt_and_a_syntax_without_a_decoder_unsupported():
    import annotators.imaging.dicom as dicom

    rle = _frames("MR_small_RLE.dcm")[0]
    jpeg = _frames("SC_rgb_jpeg_dcmtk.dcm")[0]
    garbage = bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))
    for name, frames in (("MR_small_RLE.dcm", [rle[: len(rle) // 2]]), ("SC_rgb_jpeg_dcmtk.dcm", [garbage]),
                         ("SC_rgb_jpeg_dcmtk.dcm", [jpeg, jpeg, garbage, jpeg, jpeg])):
        with pytest.raises(DecodeError) as err:
            decode(_encapsulated(name, frames), name)
        assert err.value.reason == "corrupt_pixel_data", (name, err.value.detail)
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML  # no installed plugin decodes MPEG-2 video
    with pytest.raises(DecodeError) as err:
        decode(_saved(ds), "mpeg2.dcm")
    assert err.value.reason == "unsupported_compression" and "MPEG2 Main Profile" in err.value.detail
    declined = RuntimeError("Unable to decode as exceptions were raised by all available plugins:\n  pillow: Pillow "
                            "does not support 'JPEG Extended' for samples with 12-bit precision")
    ds = pydicom.dcmread(get_testdata_file("JPGExtended.dcm"))
    assert dicom._decode_failure(ds, declined).reason == "unsupported_compression"


# --- NIfTI --------------------------------------------------------------------------------------------------
def _canonical(path: Path) -> np.ndarray:
    values = np.asanyarray(nib.as_closest_canonical(nib.load(path)).dataobj, dtype=np.float32)
    while values.ndim > 3:
        values = values[..., 0]
    return values


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz",
                                  "reoriented_anat_moved.nii", "standard.nii.gz"])
def test_slices_are_the_canonical_volume_displayed(name):
    path = NIBABEL_DATA / name
    volume = _canonical(path)
    images = decode(path.read_bytes(), name, FrameSelection("even", 3))
    for image in images:
        expected = volume[::-1, ::-1, image.frame].T
        assert image.pixels.shape == expected.shape and image.view == "axial"
        if expected.std() > 0:
            assert np.corrcoef(image.pixels.ravel(), expected.ravel())[0, 1] > 0.98, (name, image.frame)
    [projection] = decode(path.read_bytes(), name, FrameSelection("mip"))
    expected = volume.max(axis=2)[::-1, ::-1].T
    assert projection.frame == -2 and np.corrcoef(projection.pixels.ravel(), expected.ravel())[0, 1] > 0.98


def _ct(shape=(64, 48, 10)) -> np.ndarray:
    x, y = np.mgrid[0 : shape[0], 0 : shape[1]]
    body = ((x - shape[0] / 2) / (0.45 * shape[0])) ** 2 + ((y - shape[1] / 2) / (0.4 * shape[1])) ** 2 < 1
    plane = np.where(body, 40.0, -1000.0)
    plane[30:34, 30:34] = 900.0  # bone
    return np.repeat(plane[..., None], shape[2], axis=2)


def test_ct_volumes_get_the_lung_window_and_a_source_rescale():
    hu = _ct()
    data = gzip.compress(nib.Nifti1Image(hu.astype(np.int16), np.diag([0.7, 0.7, 2.0, 1.0])).to_bytes(), mtime=0)
    [image] = decode(data, "ct.nii.gz")
    assert image.modality == "CT" and image.pixel_spacing == pytest.approx((0.7, 0.7))
    assert {int(v) for v in np.unique(image.pixels)} == {60, 236, 255}  # air, soft tissue, bone at -1350..150 HU
    raw = nib.Nifti1Image((hu + 1024).astype(np.uint16), np.eye(4)).to_bytes()  # raw values, scaling elsewhere
    assert decode(raw, "raw.nii")[0].modality == "MR"
    assert np.array_equal(decode(raw, "raw.nii", rescale=(1.0, -1024.0))[0].pixels, image.pixels)


def test_broken_volumes_are_rejects():
    data = (NIBABEL_DATA / "example4d.nii.gz").read_bytes()
    with pytest.raises(DecodeError, match="truncated_file"):  # before its first volume ends
        decode(data[: len(data) // 2], "cut.nii.gz")
    with pytest.raises(DecodeError, match="truncated_file: the file ends within its 348-byte NIfTI header"):
        decode(data[:20], "cut.nii.gz")
    with pytest.raises(DecodeError, match="bad_volume_shape"):
        decode((NIBABEL_DATA / "row_major.dconn.nii").read_bytes(), "matrix.nii")


# --- PNG / JPEG ---------------------------------------------------------------------------------------------
def _encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


GREY = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))


@pytest.mark.parametrize("image,fmt", [
    (Image.fromarray(GREY), "PNG"),
    (Image.fromarray(GREY.astype(np.uint16) * 257), "PNG"),  # 16-bit grey
    (Image.fromarray(np.stack([GREY] * 3, -1)), "PNG"),
    (Image.fromarray(np.dstack([GREY] * 3 + [np.full_like(GREY, 255)])), "PNG"),  # opaque RGBA
    (Image.fromarray(GREY).convert("LA"), "PNG"),
    (Image.fromarray(np.stack([GREY] * 3, -1)).convert("CMYK"), "JPEG"),
    (Image.fromarray(GREY), "JPEG"),
])
def test_raster_modes_become_the_same_grey(image, fmt):
    [decoded] = decode(_encoded(image, fmt), f"x.{fmt.lower()}")
    assert decoded.pixels.shape == (48, 64) and decoded.pixels.dtype == np.uint8
    assert np.abs(decoded.pixels.astype(int) - GREY).mean() < 2


def test_palette_transparency_and_exif_orientation():
    palette = Image.fromarray(GREY).convert("P")
    palette.info["transparency"] = int(np.asarray(palette)[0, -1])
    [decoded] = decode(_encoded(palette, transparency=palette.info["transparency"]), "p.png")
    assert decoded.pixels[0, -1] == 0  # transparent pixels are composed over black
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    [rotated] = decode(_encoded(Image.fromarray(GREY), "JPEG", exif=exif.tobytes()), "r.jpg")
    assert rotated.pixels.shape == (64, 48) and (rotated.orig_width, rotated.orig_height) == (48, 64)
    assert rotated.pixels[0].mean() < rotated.pixels[-1].mean()  # the dark left column became the top row


def test_truncated_jpeg_is_a_reject():
    data = _encoded(Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128), dtype=np.uint8)), "JPEG")
    with pytest.raises(DecodeError) as err:
        decode(data[: len(data) // 3], "cut.jpg")
    assert err.value.reason == "truncated_image"


def _codestream(name: str) -> bytes:
    """The first frame's codestream of a compressed DICOM test file: a JPEG file as a DICOM exporter writes it."""
    ds = pydicom.dcmread(get_testdata_file(name))
    return next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "JPEGLSNearLossless_16.dcm"])
def test_jpeg_files_beyond_pillow_decode_like_their_dicom(name):
    """12-bit DCT, lossless and JPEG-LS files (Pillow reads none of them) decode as the same pixels in a DICOM do;
    cut short, they are truncated (libjpeg would fill the rest with grey)."""
    data = _codestream(name)
    [image] = decode(data, "exported.jpg")
    stored = pydicom.dcmread(get_testdata_file(name)).pixel_array
    assert image.pixels.shape == stored.shape == (image.orig_height, image.orig_width)
    assert np.corrcoef(image.pixels.ravel(), stored.ravel())[0, 1] > 0.99
    with pytest.raises(DecodeError) as err:
        decode(data[: len(data) // 2], "cut.jpg")
    assert err.value.reason == "truncated_image" and "end marker" in err.value.detail


def test_a_jpeg_beyond_pillow_is_turned_upright_by_its_exif_orientation():
    """Pillow reads an 8-bit lossless JPEG's header, so a connector sizes it with its EXIF orientation
    (`displayed_size`); libjpeg's decode is turned upright the same way and reports that size."""
    data = _codestream("JPGLosslessP14SV1_1s_1f_8b.dcm")  # 1024 wide, 768 high as stored
    [stored] = decode(data, "exported.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter clockwise to display
    payload = exif.tobytes()
    rotated = data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]
    [image] = decode(rotated, "rotated.jpg")
    with Image.open(io.BytesIO(rotated)) as header:
        assert (image.orig_width, image.orig_height) == displayed_size(header) == (768, 1024)
    assert np.array_equal(image.pixels, np.rot90(stored.pixels, -1))


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real is not beside this checkout")
def test_real_collection_images_decode_at_their_size():
    images = sorted((REAL / "covid-chestxray" / "images").iterdir())[:12]
    for path in images + sorted((REAL / "medpix-2.0" / "MedPix-2-0" / "images").iterdir())[:4]:
        [decoded] = decode(path.read_bytes(), path.name)
        with Image.open(path) as header:
            assert {decoded.orig_width, decoded.orig_height} == set(header.size), path.name


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real is not beside this checkout")
def test_jpeg_reduced_scale_decode_keeps_the_original_size():
    path = REAL / "covid-chestxray" / "images" / "covid-19-pneumonia-30-PA.jpg"  # 3670 x 3308
    data = path.read_bytes()
    [full] = decode(data, path.name)
    [draft] = decode(data, path.name, max_side=512)
    assert (draft.orig_width, draft.orig_height) == (full.orig_width, full.orig_height) == (3670, 3308)
    assert 512 <= max(draft.pixels.shape) < max(full.pixels.shape) // 2
    a, b = (resize_long_side(image, 512).pixels.astype(int) for image in (full, draft))
    assert a.shape == b.shape and np.abs(a - b).mean() < 2
    exif = Image.Exif()
    exif[0x0112] = 6
    [rotated] = decode(_encoded(Image.fromarray(np.tile(GREY, (20, 20))), "JPEG", exif=exif.tobytes()), "r.jpg",
                       max_side=200)
    assert (rotated.orig_width, rotated.orig_height) == (960, 1280)
    assert rotated.pixels.shape[0] > rotated.pixels.shape[1]
