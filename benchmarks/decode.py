"""Milliseconds per image: our decode + normalise + encode, beside the bare library call, per format, in one run.

    .venv/bin/python benchmarks/decode.py --repeat 5 --max-side 512

Inputs are real files where they exist (pydicom's and pydicom-data's DICOM files, nibabel's NIfTI, the
covid-chestxray and MedPix images in ../shared/data/real) plus two generated ones (a 512 x 512 x 96 CT volume
and a 16-bit PNG). Every input is read into memory first; both paths start from the same bytes.
  bare      pydicom `dcmread(...).pixel_array`, nibabel `from_bytes(...).get_fdata()`, PIL `open(...).load()`
  decode    `annotators.imaging.decode` at full resolution (display pixels: LUTs, window, orientation, grey,
            selected frames)
  pipeline  what the stages do per image: decode with `max_side` (a large JPEG decodes at reduced scale),
            `resize_long_side`, `encode_png`
  resize    `resize_long_side` (OpenCV's area averaging) of the full-resolution display pixels to `max_side`,
            beside Pillow's box reduction then Lanczos (`reducing_gap=3`, what the build used before)
The median of `--repeat` runs is reported (after one warm-up run).
"""
from __future__ import annotations

import argparse
import gzip
import io
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file

from annotators.imaging import decode, encode_png, resize_long_side

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


@dataclass(frozen=True)
class Case:
    format: str
    name: str
    data: bytes
    bare: Callable[[bytes], object]


def bare_dicom(data: bytes):
    return pydicom.dcmread(io.BytesIO(data)).pixel_array


def bare_nifti(data: bytes):
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return nib.Nifti1Image.from_bytes(raw).get_fdata()


def bare_pil(data: bytes):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def ct_volume_bytes(compress: bool) -> bytes:
    rng = np.random.default_rng(0)
    x, y = np.mgrid[0:512, 0:512]
    body = ((x - 256) / 230.0) ** 2 + ((y - 256) / 200.0) ** 2 < 1
    plane = np.where(body, 40, -1000).astype(np.int16)
    volume = plane[..., None] + rng.integers(-20, 20, size=(512, 512, 96), dtype=np.int16)
    raw = nib.Nifti1Image(volume, np.diag([-0.7, -0.7, 2.0, 1.0])).to_bytes()
    return gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw


def png16_bytes() -> bytes:
    values = (np.random.default_rng(1).random((2048, 2048)) * 4095).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def cases() -> list[Case]:
    dicom = [("DICOM uncompressed CR", "RG1_UNCI.dcm"), ("DICOM JPEG 2000 lossless", "RG1_J2KR.dcm"),
             ("DICOM JPEG 2000 lossy", "RG1_J2KI.dcm"), ("DICOM JPEG-LS lossless", "emri_small_jpeg_ls_lossless.dcm"),
             ("DICOM JPEG lossless", "JPGLosslessP14SV1_1s_1f_8b.dcm"), ("DICOM RLE", "OBXXXX1A_rle.dcm"),
             ("DICOM uncompressed CT", "CT_small.dcm"), ("DICOM uncompressed MR", "MR2_UNCR.dcm")]
    out = [Case(fmt, name, Path(get_testdata_file(name)).read_bytes(), bare_dicom) for fmt, name in dicom]
    out += [Case("NIfTI .nii.gz CT 512x512x96", "generated", ct_volume_bytes(True), bare_nifti),
            Case("NIfTI .nii CT 512x512x96", "generated", ct_volume_bytes(False), bare_nifti),
            Case("NIfTI .nii.gz 4-D EPI", "example4d.nii.gz",
                 (Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz").read_bytes(), bare_nifti)]
    covid = REAL / "covid-chestxray" / "images"
    for fmt, name in (("JPEG (large)", "covid-19-pneumonia-30-PA.jpg"), ("JPEG", "covid-19-pneumonia-2.jpg"),
                      ("PNG 8-bit", "ARDSSevere.png")):
        if (covid / name).is_file():
            out.append(Case(fmt, name, (covid / name).read_bytes(), bare_pil))
    medpix = sorted((REAL / "medpix-2.0" / "MedPix-2-0" / "images").glob("*.png"))
    if medpix:
        out.append(Case("PNG 512 (MedPix)", medpix[0].name, medpix[0].read_bytes(), bare_pil))
    out.append(Case("PNG 16-bit 2048x2048", "generated", png16_bytes(), bare_pil))
    return out


def median_ms(work: Callable[[], object], repeat: int) -> float:
    work()  # warm-up: imports, plugin discovery, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pillow_resize(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """The former resize: Pillow's box reduction, then Lanczos over the last factor of 3."""
    height, width = pixels.shape
    scale = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))


def pipeline_path(data: bytes, name: str, max_side: int) -> None:
    for image in decode(data, name, max_side=max_side):
        encode_png(resize_long_side(image, max_side).pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-side", type=int, default=512)
    args = parser.parse_args()
    header = ("format", "file", "input", "bare ms", "decode ms", "pipeline ms", "decode / bare", "pipeline / bare",
              "resize ms", "Pillow resize ms")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for case in cases():
        name = case.name if case.name != "generated" else ("x.nii.gz" if "gz" in case.format else
                                                           "x.nii" if "NIfTI" in case.format else "x.png")
        [first] = decode(case.data, name)[:1]
        bare = median_ms(lambda: case.bare(case.data), args.repeat)
        ours = median_ms(lambda: decode(case.data, name), args.repeat)
        full = median_ms(lambda: pipeline_path(case.data, name, args.max_side), args.repeat)
        resize = median_ms(lambda: resize_long_side(first, args.max_side), args.repeat)
        pillow = median_ms(lambda: pillow_resize(first.pixels, args.max_side), args.repeat)
        size = f"{first.orig_width}x{first.orig_height}, {len(case.data) / 1e6:.2f} MB"
        print(f"| {case.format} | {case.name} | {size} | {bare:.1f} | {ours:.1f} | {full:.1f} | "
              f"{ours / bare:.2f} | {full / bare:.2f} | {resize:.2f} | {pillow:.2f} |")


if __name__ == "__main__":
    main()
