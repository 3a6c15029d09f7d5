"""Sample image files: DICOM (12 bits stored in 16), PNG (8- or 16-bit grey), JPEG, gzipped NIfTI.

Everything is a function of its inputs: UIDs are hashed from the seed and source id, no clocks are read,
gzip headers carry no time, so the same study gives the same bytes on every machine.
"""
from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from connectors.sample.ct import SPACING_MM, to_ras
from connectors.sample.plan import StudySpec

SOP_CLASSES = {"CR": "1.2.840.10008.5.1.4.1.1.1", "DX": "1.2.840.10008.5.1.4.1.1.1.1"}
RESCALES = ((1.0, 0.0), (1.0, -1024.0), (0.5, 0.0), (2.0, -2048.0))  # (slope, intercept), by study index
MAX_12BIT = 4095


def write_png(path: Path, image: np.ndarray, bits: int) -> None:
    """A grey PNG of a 12-bit image at 8 bits, or at 16 bits (stored uncompressed: deflate is slow on noise)."""
    if bits == 8:
        Image.fromarray((image >> 4).astype(np.uint8)).save(path, format="PNG", compress_level=1)
    else:
        Image.fromarray((image << 4) | (image >> 8)).save(path, format="PNG", compress_level=0)


def write_jpeg(path: Path, image: np.ndarray, quality: int = 90) -> None:
    """An 8-bit grey JPEG of a 12-bit image."""
    Image.fromarray((image >> 4).astype(np.uint8)).save(path, format="JPEG", quality=quality)


def write_nifti_gz(path: Path, volume: np.ndarray, flip_x: bool) -> None:
    """A .nii.gz of a display-order HU volume (see connectors.sample.ct), stored RAS+ or, with `flip_x`, LAS."""
    data = to_ras(volume)
    shape = np.array(data.shape, dtype=float)
    affine = np.diag([*SPACING_MM, 1.0])
    affine[:3, 3] = -(shape - 1) / 2 * np.array(SPACING_MM)
    if flip_x:
        data = np.ascontiguousarray(data[::-1])
        affine[0, 0], affine[0, 3] = -affine[0, 0], -affine[0, 3]
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    path.write_bytes(gzip.compress(image.to_bytes(), compresslevel=1, mtime=0))


def write_dicom(path: Path, image: np.ndarray, spec: StudySpec, seed: int, institution: str, referring: str) -> None:
    """A CR/DX chest radiograph file: 12 bits stored in 16, with rescale, window and a fake identity."""
    slope, intercept = RESCALES[spec.index % len(RESCALES)]
    stored = MAX_12BIT - image if spec.photometric == "MONOCHROME1" else image
    low, high = int(stored.min()) * slope + intercept, int(stored.max()) * slope + intercept
    patient = spec.patient
    uid = lambda part: generate_uid(entropy_srcs=["medregion-sample", str(seed), spec.source_id, part])  # noqa: E731

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASSES[spec.modality]
    ds.file_meta.MediaStorageSOPInstanceUID = uid("instance")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = SOP_CLASSES[spec.modality]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = _da(spec.study_date)
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = f"{8 + spec.index % 10:02d}{spec.index * 7 % 60:02d}00"
    ds.AccessionNumber = spec.accession
    ds.Modality = spec.modality
    ds.Manufacturer = "MedRegion Sample"
    ds.InstitutionName = institution
    ds.ReferringPhysicianName = _pn(referring)
    ds.StudyDescription = f"CHEST {spec.view}"
    ds.PatientName = patient.dicom_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = _da(patient.birth_date)
    ds.PatientSex = patient.sex
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = spec.view
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.StudyID = spec.accession[-6:]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    spacing = [f"{spec.pixel_spacing:.4f}"] * 2
    ds.PixelSpacing = spacing
    if spec.modality == "DX":
        ds.ImagerPixelSpacing = spacing
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = spec.photometric
    ds.Rows, ds.Columns = image.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = f"{intercept:g}", f"{slope:g}", "US"
    ds.WindowCenter, ds.WindowWidth = f"{(low + high) / 2:g}", f"{high - low + 1:g}"
    ds.PixelData = stored.astype("<u2", copy=False).tobytes()
    ds.save_as(path, enforce_file_format=True)


def dicom_phi(spec: StudySpec, institution: str, referring: str) -> list[str]:
    """The identifying values `dicom_bytes` writes into the header, as written."""
    patient = spec.patient
    return [patient.dicom_name, patient.patient_id, _da(patient.birth_date), _da(spec.study_date),
            spec.accession, institution, _pn(referring)]


def _da(date: dt.date) -> str:
    return f"{date.year:04d}{date.month:02d}{date.day:02d}"


def _pn(name: str) -> str:
    given, family = name.split(" ", 1)
    return f"{family}^{given}"
