"""NIfTI volumes: canonical (RAS+) orientation, HU windowing for CT, slice or projection selection.

A source's `rescale` (slope, intercept) is for raw stored values: it applies only when the header states no
scaling of its own. A slice is read straight from the file's array proxy and reoriented on its own, so choosing
one slice of a large volume never materialises the whole volume as floats (a projection does need all of it). A
gzipped file is inflated only as far as its header says the first volume reaches (the rest of a 4-D series is never
read), after checking that against `MAX_INFLATED_BYTES`: a small file cannot inflate into a worker's memory.
Complex voxels are shown as their magnitude, colour voxels (RGB24, RGBA32) as their luminance; a projection leaves
NaN voxels out. With neither a qform nor an sform the axes are nibabel's fallback (pixdim scaling, x flipped: the
Analyze convention of radiological storage).
Axial slice k of the canonical volume is displayed as `vol[::-1, ::-1, k].T`: rows run anterior to
posterior and the patient's right is on the image's left (radiological convention).
"""
from __future__ import annotations

import io
import math
import zlib

import numpy as np

from annotators.imaging.normalise import LUMA, auto_window, window_to_uint8
from annotators.imaging.types import (
    MAX_INFLATED_BYTES,
    MAX_VOXELS,
    DecodedImage,
    DecodeError,
    FrameSelection,
    too_large,
)

LUNG_WINDOW = (-1350.0, 150.0)  # HU: centre -600, width 1500, for slices
PROJECTION_WINDOW = (-1000.0, 1000.0)  # HU: a maximum projection is dominated by dense tissue and bone
NIFTI1_HEADER_SIZE, NIFTI2_HEADER_SIZE = 348, 540  # bytes
NIFTI_SINGLE_FILE = ((344, b"n+1\x00"), (4, b"n+2\x00"))  # (offset, magic) of NIfTI-1 and NIfTI-2 .nii files
NIFTI_PAIR_HEADER = ((344, b"ni1\x00"), (4, b"ni2\x00"))  # the same in a .hdr whose voxels are in a .img beside it
GZIP_MAGIC = b"\x1f\x8b"
GZIP_HEAD_INPUT = 1 << 16  # compressed bytes that hold any header (a gzip header's file name and comment included)
STORED_2D = np.array([[0, 1], [1, 1]], dtype=float)  # a 2-D image's orientation: its axes as stored
CT_AIR, CT_DENSE = -900.0, 200.0  # a volume with values at or below air and at or above soft tissue is CT in HU


def decode_nifti(data: bytes, frames: FrameSelection, rescale: tuple[float, float] | None = None) -> list[DecodedImage]:
    volume = _volume(data)
    ornt = _orientation(volume.affine)[:3] if len(volume.shape) >= 3 else STORED_2D
    thin = _thin_axis(volume.shape, ornt)
    z_axis = int(np.flatnonzero(ornt[:, 0] == 2)[0]) if len(volume.shape) >= 3 else None
    selected = frames.indices(1 if thin is not None or z_axis is None else volume.shape[z_axis])
    planes = _planes(volume, ornt, thin, z_axis, selected)
    if rescale and not _scaled_by_header(volume):
        planes = [plane * np.float32(rescale[0]) + np.float32(rescale[1]) for plane in planes]
    if min(planes[0].shape) < 2:
        raise DecodeError("bad_volume_shape", f"volume shape {volume.shape} has no 2-D image plane")
    view, spacing = _view(volume, ornt, thin)
    return _images(planes, selected, view, spacing)


def _volume(data: bytes):
    """The NIfTI image of a .nii or .nii.gz file's bytes (of a gzipped one, its first volume only): corrupt_nifti
    when its header cannot be read, bad_volume_shape for an extent of 0 or less, truncated_file when the file ends
    before its first volume does."""
    import nibabel as nib

    try:
        raw = _first_volume(data) if data.startswith(GZIP_MAGIC) else _whole_header(data)
        volume = _image_class(raw).from_bytes(raw)
    except (EOFError, OSError, ValueError, zlib.error, nib.filebasedimages.ImageFileError,
            nib.spatialimages.HeaderDataError, nib.spatialimages.ImageDataError, nib.wrapstruct.WrapStructError) as exc:
        raise DecodeError("corrupt_nifti", f"{type(exc).__name__}: {exc}") from None
    if len(volume.shape) < 2 or min(volume.shape) <= 0:  # a 4-D series of no volumes too
        raise DecodeError("bad_volume_shape", f"volume shape {volume.shape}")
    end = _first_volume_end(int(volume.dataobj.offset), volume.header)  # the image's header copy says offset 0
    if len(raw) < end:
        raise DecodeError("truncated_file", f"the file ends {end - len(raw):,} bytes before its first volume does")
    return volume


def _planes(volume, ornt: np.ndarray, thin: int | None, z_axis: int | None, selected: list[int]
            ) -> list[np.ndarray]:
    """Canonical planes: the one plane across a volume's `thin` axis, else the `selected` slices along the stored
    `z_axis` (None: a 2-D image), or the maximum over them all (NaN only where every voxel is); truncated_file where
    the data ends early."""
    if not selected and _voxels(volume.shape) > MAX_VOXELS:  # a projection reads the whole volume
        raise too_large("the volume", _voxels(volume.shape), MAX_VOXELS, "voxels")
    try:
        if thin is not None:
            return [np.take(_canonical_volume(volume, ornt), 0, axis=thin)]
        if selected:
            return [_canonical_slice(volume, ornt, z_axis, k) for k in selected]
        return [np.fmax.reduce(_canonical_volume(volume, ornt), axis=2)]
    except (EOFError, OSError, ValueError, zlib.error) as exc:
        raise DecodeError("truncated_file", f"{type(exc).__name__}: {exc}") from None


def _view(volume, ornt: np.ndarray, thin: int | None) -> tuple[str, tuple[float, ...]]:
    """The view that the planes show and their spacing (rows, columns): axial slices' rows run along y and columns
    along x, a thin volume's one coronal or sagittal plane's rows along z; () where the header states no voxel size."""
    zooms = _canonical_axes(_spacing(volume.header.get_zooms()[:3]), ornt)
    view, spacing = {None: ("axial", (zooms[1], zooms[0])), 1: ("coronal", (zooms[2], zooms[0])),
                     0: ("sagittal", (zooms[2], zooms[1]))}[thin]
    return view, spacing if all(spacing) else ()


def _images(planes: list[np.ndarray], selected: list[int], view: str, spacing: tuple[float, ...]
            ) -> list[DecodedImage]:
    """The planes displayed: a CT in HU (voxels at air and at soft tissue or denser) in the lung window (slices) or
    `PROJECTION_WINDOW`, anything else in the automatic window over them all."""
    finite = np.concatenate([plane[np.isfinite(plane)].ravel() for plane in planes])
    is_ct = finite.size > 0 and finite.min() <= CT_AIR and finite.max() >= CT_DENSE
    window = (LUNG_WINDOW if selected else PROJECTION_WINDOW) if is_ct else auto_window(np.stack(planes))
    images = []
    for index, plane in zip(selected or [-2], planes):
        # rows: the second axis from its high end (anterior or superior at the top); columns: the first from its
        # high end (the patient's right, or anterior, on the image's left), as radiology shows them
        gray = np.ascontiguousarray(window_to_uint8(plane[::-1, ::-1].T, *window))
        images.append(DecodedImage(pixels=gray, orig_width=int(gray.shape[1]), orig_height=int(gray.shape[0]),
                                   modality="CT" if is_ct else "MR", view=view, pixel_spacing=spacing, frame=index))
    return images


def _thin_axis(shape: tuple[int, ...], ornt: np.ndarray) -> int | None:
    """The canonical axis (0: x, 1: y) across which a volume is one voxel thick while it has slices along z (a single
    coronal or sagittal plane, whose axial slices would be lines); None for any other volume or a 2-D image."""
    if len(shape) < 3:
        return None
    extent = _canonical_axes(shape[:3], ornt)
    return next((axis for axis in (1, 0) if extent[axis] == 1 and extent[2] >= 2 and extent[1 - axis] >= 2), None)


def _orientation(affine: np.ndarray) -> np.ndarray:
    """The affine's axis orientation (nibabel's `io_orientation`), or the stored axes when the affine is degenerate:
    an axis without a direction, or values (NaN) that it cannot decompose."""
    from nibabel.orientations import io_orientation

    try:
        ornt = io_orientation(affine)
    except np.linalg.LinAlgError:
        ornt = np.full((3, 2), np.nan)
    return np.array([[0, 1], [1, 1], [2, 1]], dtype=float) if np.isnan(ornt).any() else ornt


def has_magic(data: bytes, magics: tuple[tuple[int, bytes], ...]) -> bool:
    """`data` holds one of the (offset, magic) pairs."""
    return any(data[offset:offset + len(magic)] == magic for offset, magic in magics)


def _header_size(raw: bytes) -> int:
    """348 or 540 bytes, as the header's sizeof_hdr says (in either byte order) that it is NIfTI-1 or NIfTI-2."""
    return NIFTI2_HEADER_SIZE if int.from_bytes(raw[:4], "little") in (540, 0x1C020000) else NIFTI1_HEADER_SIZE


def _image_class(raw: bytes):
    import nibabel as nib

    return nib.Nifti2Image if _header_size(raw) == NIFTI2_HEADER_SIZE else nib.Nifti1Image


def _whole_header(raw: bytes) -> bytes:
    """`raw`, refused unless it holds a whole single-file NIfTI header: cut short, or no NIfTI at all (a name that
    says .nii, but no magic)."""
    if len(raw) < _header_size(raw):
        raise DecodeError("truncated_file", f"the file ends within its {_header_size(raw)}-byte NIfTI header")
    if not has_magic(raw, NIFTI_SINGLE_FILE):
        raise DecodeError("corrupt_nifti", "no NIfTI magic ('n+1' at byte 344, 'n+2' at byte 4): not a NIfTI file")
    return raw


def _spacing(zooms) -> tuple[float, ...]:
    """Voxel sizes, each 0 where the header states none that is finite and positive (a 0 makes a slice's spacing
    unknown)."""
    return tuple(float(z) if np.isfinite(z) and z > 0 else 0.0 for z in zooms)


def _voxels(shape: tuple[int, ...]) -> int:
    """Voxels of the first 3-D volume (of a 4-D series, or a 2-D image's pixels), counted without overflow: NIfTI-2
    extents are 64-bit."""
    return math.prod(int(n) for n in shape[:3])


def _first_volume_end(offset: int, header) -> int:
    """Where the first volume's data, which starts at `offset`, ends in the file (a 4-D series stores its first
    volume first)."""
    return offset + _voxels(header.get_data_shape()) * header.get_data_dtype().itemsize


def _first_volume(data: bytes) -> bytes:
    """A gzipped NIfTI's header, extensions and first volume, inflated no further; refused before inflating when
    the header asks for more than `MAX_INFLATED_BYTES`."""
    head = _whole_header(gzip_head(data))
    header = _image_class(head).header_class.from_fileobj(io.BytesIO(head))
    needed = _first_volume_end(int(header.get_data_offset()), header)
    if needed > MAX_INFLATED_BYTES:
        raise too_large("the first volume", needed, MAX_INFLATED_BYTES, "bytes")
    return _gunzip(data, needed)


def gzip_head(data: bytes) -> bytes:
    """The first bytes (as many as a NIfTI-2 header's) that gzip `data` inflates to; `zlib.error` if it is damaged."""
    return _gunzip(data[:GZIP_HEAD_INPUT], NIFTI2_HEADER_SIZE)


def _gunzip(data: bytes, limit: int) -> bytes:
    """At most the first `limit` bytes that gzip `data` (one or more members) inflates to."""
    out, rest, size = [], data, 0
    while size < limit and rest[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        out.append(inflater.decompress(rest, limit - size))
        size += len(out[-1])
        if not inflater.eof:  # the limit is reached, or the file ends early (nibabel then finds too little data)
            break
        rest = inflater.unused_data
    return b"".join(out)


def _scaled_by_header(volume) -> bool:
    """The header states a scaling (scl_slope, scl_inter) of its own, which nibabel has applied already: a source's
    `rescale` for raw values (CT-RATE's metadata) would count it twice."""
    return (float(getattr(volume.dataobj, "slope", 1.0)), float(getattr(volume.dataobj, "inter", 0.0))) != (1.0, 0.0)


def _canonical_axes(values, ornt: np.ndarray) -> tuple[float, float, float]:
    """Per-axis `values` of the stored volume (voxel sizes, extents) in the canonical axes' order; 1 for an axis a
    2-D image lacks."""
    out = [1.0, 1.0, 1.0]
    for axis, (target, _) in enumerate(ornt):
        out[int(target)] = float(values[axis]) if axis < len(values) else 1.0
    return out[0], out[1], out[2]


def _reader(volume, slicer: list) -> np.ndarray:
    """Part of the first 3-D volume (a 4-D series: its first volume) as float32, scaled as the header says; a
    colour volume (RGB24, RGBA32) as its luminance."""
    extra = (0,) * max(0, len(volume.shape) - 3)
    values = np.asarray(volume.dataobj[tuple(slicer) + extra])
    if values.dtype.names:  # one field per channel: R, G, B[, A]
        return sum(weight * values[name].astype(np.float32) for name, weight in zip(values.dtype.names[:3], LUMA))
    if np.iscomplexobj(values):  # complex MR data: its magnitude, as scanners display it
        return np.abs(values).astype(np.float32)
    return values.astype(np.float32, copy=False)


def _canonical_slice(volume, ornt: np.ndarray, z_axis: int | None, k: int) -> np.ndarray:
    """Axial slice k of the RAS+ volume, (x, y), read without loading the rest."""
    from nibabel.orientations import apply_orientation

    if z_axis is None:  # a 2-D image
        return apply_orientation(_reader(volume, [slice(None)] * 2), ornt)
    source = volume.shape[z_axis] - 1 - k if ornt[z_axis, 1] < 0 else k
    slicer = [slice(None)] * 3
    slicer[z_axis] = slice(source, source + 1)
    return apply_orientation(_reader(volume, slicer), ornt)[..., 0]


def _canonical_volume(volume, ornt: np.ndarray) -> np.ndarray:
    from nibabel.orientations import apply_orientation

    values = _reader(volume, [slice(None)] * min(3, len(volume.shape)))
    if values.ndim == 2:
        return apply_orientation(values, ornt)[..., np.newaxis]
    return apply_orientation(values, ornt)
