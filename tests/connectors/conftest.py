"""Small copies of the credentialed sources, generated in their documented layouts, and one real build over them.

Every generator writes the source's own file names, columns, encodings and DICOM tags (see SOURCES.md and
each connector's docstring) with synthetic pixels: a dark field with two darker lungs and, where a source
annotates a finding, a bright blob whose true box is returned so tests can check where boxes land. DICOM
headers carry invented patient names, ids and dates so de-identification is tested on real headers.

`all_sources_build` builds every connector at once on the session's Ray: the generated sources plus the two
real collections in ../shared/data/real (all of their rows).
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import json
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import polars as pl
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
REAL_COLLECTIONS = ("covid_chestxray", "medpix")  # the sources read from ../shared/data/real
REAL_SOURCES = REAL_COLLECTIONS if REAL.is_dir() else ()  # built only where the real copies are
PHI = ("Halvorsen^Ingrid", "MRN-7731942", "19420317")  # planted in every generated DICOM header
DEID_KEY = "connector-tests-secret"


# --- pixels -------------------------------------------------------------------------------------------------
def radiograph(seed: int, width: int, height: int, blobs=()) -> np.ndarray:
    """A chest-like uint8 image: smooth random background, two dark lungs, bright blobs at `blobs` boxes."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(90, 170, size=(6, 6)).astype(np.float32)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))
    yy, xx = np.mgrid[0:height, 0:width]
    for cx in (0.3, 0.7):
        lung = ((xx - cx * width) / (0.16 * width)) ** 2 + ((yy - 0.5 * height) / (0.32 * height)) ** 2 < 1
        image = np.where(lung, image * 0.45, image)
    for x0, y0, x1, y1 in blobs:
        image[int(y0):int(y1), int(x0):int(x1)] = 235
    image = image + rng.normal(0, 4, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def save_image(path: Path, pixels: np.ndarray, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return path


def save_dicom(path: Path, pixels: np.ndarray, view: str = "PA", monochrome1: bool = False) -> Path:
    """A DX DICOM (12 bits stored in 16) with a window and the planted patient attributes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path.name)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PHI
    ds.StudyDate, ds.InstitutionName, ds.ReferringPhysicianName = "21800506", "St. Elsewhere General", "Reed^Alan"
    ds.Modality, ds.ViewPosition, ds.BodyPartExamined = "DX", view, "CHEST"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 16, 12, 11, 0
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.ImagerPixelSpacing = [0.139, 0.139]
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    stored = pixels.astype(np.uint16) * 16
    ds.PixelData = (4095 - stored if monochrome1 else stored).astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_csv(path: Path, rows: list[dict], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pl.DataFrame(rows).write_csv().encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


# --- MIMIC-CXR(-JPG) and MS-CXR -----------------------------------------------------------------------------
MIMIC_REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough, evaluate for pneumonia.

 TECHNIQUE:  Chest PA and lateral.

 COMPARISON:  ___

 FINDINGS:

 There is a focal consolidation in the right lower lobe.  No pleural effusion or pneumothorax.
 The cardiomediastinal silhouette is normal.

 IMPRESSION:

 Right lower lobe consolidation, concerning for pneumonia.  Dr. ___ was informed on ___ at 10:45 AM.
"""
# (subject_id, study_id, dicom_id, ViewPosition, split)
MIMIC_IMAGES = (
    ("10000032", "50414267", "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", "PA", "train"),
    ("10000032", "50414267", "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962", "LATERAL", "train"),
    ("10000764", "57375967", "096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4", "AP", "validate"),
    ("11000183", "51967845", "3a2f2c4a-5bcbd5d5-3fa0ac4c-0fd81e7d-7c77f9b9", "PA", "test"),
)
MIMIC_NO_REPORT = "11000183"  # this subject's report file is absent: a missing_report reject


def make_mimic(root: Path, images: str) -> Path:
    meta, split, records = [], [], []
    for index, (subject, study, dicom_id, view, part) in enumerate(MIMIC_IMAGES):
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        pixels = radiograph(100 + index, 160, 192)
        if images == "jpg":
            save_image(folder / f"{dicom_id}.jpg", pixels, "JPEG")
        else:
            save_dicom(folder / f"{dicom_id}.dcm", pixels, view, monochrome1=index == 1)
        if subject != MIMIC_NO_REPORT:
            (folder.parent / f"s{study}.txt").write_text(MIMIC_REPORT)
        meta.append({"dicom_id": dicom_id, "subject_id": subject, "study_id": study,
                     "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": view,
                     "Rows": "192", "Columns": "160", "StudyDate": "21800506", "StudyTime": "213014.531",
                     "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
                     "ViewCodeSequence_CodeMeaning": "postero-anterior",
                     "PatientOrientationCodeSequence_CodeMeaning": "Erect"})
        split.append({"dicom_id": dicom_id, "study_id": study, "subject_id": subject, "split": part})
        records.append({"subject_id": subject, "study_id": study, "dicom_id": dicom_id,
                        "path": f"files/p{subject[:2]}/p{subject}/s{study}/{dicom_id}.dcm"})
    if images == "jpg":
        write_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", meta, gz=True)
        write_csv(root / "mimic-cxr-2.0.0-split.csv.gz", split, gz=True)
    else:
        write_csv(root / "cxr-record-list.csv.gz", records, gz=True)
    return root


# MS-CXR boxes on the MIMIC-CXR-JPG images (stated on an image twice the real size, to test the rescaling).
MS_CXR_ROWS = (
    (0, "Consolidation", "Right lower lobe consolidation.", (20, 110, 50, 40)),
    (0, "Pleural Effusion", "Small left pleural effusion.", (100, 140, 40, 30)),
    (2, "Cardiomegaly", "The heart is enlarged.", (50, 70, 60, 60)),
)


def make_ms_cxr(root: Path, mimic_root: Path) -> Path:
    rows = []
    for image, category, text, (x, y, w, h) in MS_CXR_ROWS:
        subject, study, dicom_id, _, _ = MIMIC_IMAGES[image]
        rows.append({"dicom_id": dicom_id, "category_name": category, "label_text": text,
                     "path": f"files/p{subject[:2]}/p{subject}/s{study}/{dicom_id}.jpg", "x": str(2 * x),
                     "y": str(2 * y), "w": str(2 * w), "h": str(2 * h), "image_width": "320", "image_height": "384",
                     "split": "test" if image == 2 else "train"})
    return write_csv(root / "MS_CXR_Local_Alignment_v1.1.0.csv", rows).parent


# --- IU X-ray -----------------------------------------------------------------------------------------------
IU_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{n}"/>
  <pmcId id="{n}"/>
  <docSource>CXR</docSource>
  <IUXRId id="{n}"/>
  <licenseType>open-access</licenseType>
  <licenseURL>http://creativecommons.org/licenses/by-nc-nd/4.0/</licenseURL>
  <ccLicense>byncnd</ccLicense>
  <articleURL/>
  <articleDate>2013-08-01</articleDate>
  <articleType>XR</articleType>
  <publisher>Indiana University</publisher>
  <title>Indiana University Chest X-ray Collection</title>
  <specialty>pulmonary diseases</specialty>
  <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
    <Article PubModel="Electronic">
      <Journal><JournalIssue><PubDate><Year>2013</Year><Month>08</Month><Day>01</Day></PubDate></JournalIssue></Journal>
      <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">XXXX-year-old male, chest pain.</AbstractText>
        <AbstractText Label="FINDINGS">{findings}</AbstractText>
        <AbstractText Label="IMPRESSION">{impression}</AbstractText>
      </Abstract>
      <Affiliation>Indiana University</Affiliation>
    </Article>
  </MedlineCitation>
  <MeSH><major>normal</major></MeSH>
  {images}
</eCitation>
"""
IU_PARENT = """<parentImage id="{id}"><figureId>F{k}</figureId><caption>Xray Chest PA and Lateral</caption>
    <panel type="single"><url>/hadoop/storage/radiology/extract/{id}.jpg</url></panel></parentImage>"""
# report number -> (findings, impression, image ids)
IU_REPORTS = {
    "1": ("The cardiac silhouette and mediastinum size are within normal limits. There is no pulmonary edema.",
          "Normal chest x-XXXX.", ("CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001")),
    "2": ("Left basilar airspace opacity. No pleural effusion.", "Left lower lobe pneumonia.",
          ("CXR2_IM-0652-1001",)),
    "3": ("Heart size normal.", "No acute disease.", ()),  # lists no image: a reject
    "4": ("", "", ("CXR4_IM-2050-1001",)),  # no findings and no impression: a reject
}


def make_iu_xray(root: Path) -> Path:
    for n, (findings, impression, images) in IU_REPORTS.items():
        parents = "\n  ".join(IU_PARENT.format(id=i, k=k) for k, i in enumerate(images, 1))
        xml = IU_XML.format(n=n, findings=findings, impression=impression, images=parents)
        (root / "ecgen-radiology").mkdir(parents=True, exist_ok=True)
        (root / "ecgen-radiology" / f"{n}.xml").write_text(xml, encoding="utf-8")
        for k, image in enumerate(images):
            save_image(root / "NLMCXR_png" / f"{image}.png", radiograph(200 + 10 * int(n) + k, 180, 150))
    return root


# --- ROCO ---------------------------------------------------------------------------------------------------
# (split, ROCO id, PMC id, figure, licence, caption, fetched)
ROCO_ROWS = (
    ("train", "ROCO_00002", "PMC4083729", "AMHSR-4-14-g002.jpg", "CC BY-NC-SA",
     "Computed tomography scan in axial view showing obliteration of the left maxillary sinus.", True),
    ("train", "ROCO_00003", "PMC2837471", "IJD2009-150251.001.jpg", "CC BY",
     "Chest radiograph showing a large right pleural effusion.", True),
    ("train", "ROCO_00005", "PMC2837471", "IJD2009-150251.002.jpg", "CC BY",
     "Follow-up radiograph after drainage.", False),  # the download failed: a missing_image reject
    ("validation", "ROCO_00020", "PMC3970251", "CRIONM2014-931546.003.jpg", "NO-CC CODE",
     "Axial computed tomography scan of the pelvis showing a diffuse infiltration of the bladder wall.", True),
    ("test", "ROCO_00041", "PMC5292123", "CRIGM2017-1710501.002.jpg", "CC BY",
     "Magnetic resonance cholangiopancreatography revealing a stone in the cystic duct.", True),
)


def make_roco(root: Path) -> Path:
    by_split: dict[str, list] = {}
    for row in ROCO_ROWS:
        by_split.setdefault(row[0], []).append(row)
    for split, rows in by_split.items():
        folder = root / split / "radiology"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "captions.txt").write_text("".join(f"{r[1]}\t {r[5]}\n" for r in rows), encoding="utf-8")
        (folder / "licences.txt").write_text(
            "ROCO_ID,PMC_ID,CC\n" + "".join(f"{r[1]},{r[2]}_{r[3]},{r[4]}\n" for r in rows), encoding="utf-8")
        wget = "wget -r ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/08/e0/{}.tar.gz -P /path/to/Dir"
        (folder / "dlinks.txt").write_text("".join(f"{r[1]}\t{wget.format(r[2])}\t{r[3]}\n" for r in rows),
                                           encoding="utf-8")
        for index, r in enumerate(rows):
            if r[6]:
                save_image(folder / "images" / f"{r[2]}_{r[3]}", radiograph(300 + index + 7 * len(split), 200, 160),
                           "JPEG")
    return root


# --- VinDr-CXR ----------------------------------------------------------------------------------------------
VINDR_TRUTH = {  # image_id -> [(class_name, true box)]; readers draw jittered copies
    "000434271f63a181c8a5e6d94c1f6e1f": [("Cardiomegaly", (70, 120, 150, 170)), ("Nodule/Mass", (40, 60, 60, 80))],
    "00053190460d56c53cc3e57321387478": [],  # "No finding" from every reader
}
VINDR_TEST = {"0a3bd4eb6a7e5b6c0b9ae3b1a2c3d4e5": [("Pleural effusion", (120, 150, 180, 200))]}
READERS = ("R8", "R9", "R10")
VINDR_COLUMNS = ("image_id", "rad_id", "class_name", "x_min", "y_min", "x_max", "y_max")


def make_vindr(root: Path) -> Path:
    rng = np.random.default_rng(5)
    train, labels = [], []
    for index, (image_id, findings) in enumerate(sorted(VINDR_TRUTH.items())):
        save_dicom(root / "train" / f"{image_id}.dicom", radiograph(400 + index, 200, 240, [b for _, b in findings]),
                   monochrome1=index == 0)
        for reader in READERS:
            for name, box in findings:
                jittered = (f"{v:.3f}" for v in np.add(box, rng.uniform(-3, 3, size=4)))
                train.append(dict(zip(VINDR_COLUMNS, (image_id, reader, name, *jittered))))
            if not findings:
                train.append(dict(zip(VINDR_COLUMNS, (image_id, reader, "No finding", "", "", "", ""))))
            labels.append({"image_id": image_id, "rad_id": reader, "Aortic enlargement": "0",
                           "Cardiomegaly": str(int(bool(findings))), "COPD": "0",
                           "Lung tumor": str(int(reader != "R10" and bool(findings))), "Pneumonia": "0",
                           "Tuberculosis": "0", "Other diseases": "0", "No finding": str(int(not findings))})
    test = []  # the test set's consensus annotations name no reader
    for image_id, findings in VINDR_TEST.items():
        save_dicom(root / "test" / f"{image_id}.dicom", radiograph(450, 200, 240, [b for _, b in findings]))
        test += [{k: v for k, v in zip(VINDR_COLUMNS, (image_id, "", name, *map(str, box))) if k != "rad_id"}
                 for name, box in findings]
    write_csv(root / "annotations" / "annotations_train.csv", train)
    write_csv(root / "annotations" / "annotations_test.csv", test)
    write_csv(root / "annotations" / "image_labels_train.csv", labels)
    return root


# --- ChestX-Det ---------------------------------------------------------------------------------------------
CHESTX_DET = {
    "train": [
        {"file_name": "36199.png", "syms": ["Effusion", "Nodule"], "boxes": [[150, 300, 250, 420], [90, 100, 110, 122]],
         "polygons": [[[150, 300], [250, 300], [250, 420], [150, 420]], [[90, 100], [110, 100], [110, 122]]]},
        {"file_name": "36204.png", "syms": [], "boxes": [], "polygons": []},
        {"file_name": "36211.png", "syms": ["Fracture"], "boxes": [],  # a polygon only: its bounds are the box
         "polygons": [[[40, 50], [70, 44], [80, 90]]]},
    ],
    "test": [{"file_name": "40001.png", "syms": ["Atelectasis"], "boxes": [[200, 180, 260, 240]],
              "polygons": [[[200, 180], [260, 180], [260, 240]]]}],
}


def make_chestx_det(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, entries in CHESTX_DET.items():
        (root / f"ChestX_Det_{split}.json").write_text(json.dumps(entries))
        for index, entry in enumerate(entries):
            save_image(root / split / entry["file_name"],
                       radiograph(500 + index + 10 * len(split), 480, 480, [tuple(b) for b in entry["boxes"]]))
    return root


# --- CT-RATE ------------------------------------------------------------------------------------------------
CT_RATE_VOLUMES = {"train": ("train_1_a_1.nii.gz", "train_1_a_2.nii.gz", "train_2_a_1.nii.gz"),
                   "validation": ("valid_1_a_1.nii.gz",)}
CT_INTERCEPT = -1024.0  # the volumes store HU + 1024, as CT-RATE's raw volumes do; the metadata says so


def ct_volume(seed: int, shape=(96, 80, 12)) -> np.ndarray:
    """HU: air outside an elliptic body (40 HU) holding two lungs (-850 HU) and a spine (700 HU), with noise."""
    rng = np.random.default_rng(seed)
    x, y = np.mgrid[0 : shape[0], 0 : shape[1]]
    body = ((x - shape[0] / 2) / (0.45 * shape[0])) ** 2 + ((y - shape[1] / 2) / (0.4 * shape[1])) ** 2 < 1
    lungs = (((np.abs(x - shape[0] / 2) - 0.2 * shape[0]) / (0.13 * shape[0])) ** 2
             + ((y - shape[1] / 2) / (0.28 * shape[1])) ** 2) < 1
    spine = ((x - shape[0] / 2) / (0.05 * shape[0])) ** 2 + ((y - 0.75 * shape[1]) / (0.06 * shape[1])) ** 2 < 1
    plane = np.where(spine, 700.0, np.where(lungs, -850.0, np.where(body, 40.0, -1000.0)))
    return plane[..., None] + rng.normal(0, 10, size=shape)


def save_nifti(path: Path, values: np.ndarray, affine: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(values, affine), path)
    return path


LPS_AFFINE = np.diag([-0.7, -0.7, 2.0, 1.0])  # DICOM-like (x to the left, y to the back): reoriented to RAS+


def make_ct_rate(root: Path) -> Path:
    for split, names in CT_RATE_VOLUMES.items():
        reports, metadata = [], []
        for index, name in enumerate(names):
            prefix, pid, scan, _ = name.split("_")
            stored = np.rint(ct_volume(600 + index + 10 * len(split)) - CT_INTERCEPT).astype(np.int16)
            save_nifti(root / "dataset" / prefix / f"{prefix}_{pid}" / f"{prefix}_{pid}_{scan}" / name, stored,
                       LPS_AFFINE)
            reports.append({"VolumeName": name, "ClinicalInformation_EN": "Cough for two weeks.",
                            "Technique_EN": "Non-contrast axial images of the chest.",
                            "Findings_EN": "Heart size is normal. There is a 6 mm nodule in the right lower lobe.",
                            "Impressions_EN": "Right lower lobe nodule."})
            metadata.append({"VolumeName": name, "Manufacturer": "SIEMENS", "RescaleSlope": "1.0",
                             "RescaleIntercept": str(CT_INTERCEPT), "XYSpacing": "[0.7, 0.7]", "ZSpacing": "2.0"})
        write_csv(root / "radiology_text_reports" / f"{split}_reports.csv", reports)
        write_csv(root / "metadata" / f"{split}_metadata.csv", metadata)
    return root


# --- folder -------------------------------------------------------------------------------------------------
FOLDER_VOLUME_BOX = (30.0, 20.0, 50.0, 40.0, 4)  # x0, y0, x1, y1 on slice 4 of 8 (one of "even 3": 1, 4, 6)


def make_folder(root: Path) -> Path:
    save_image(root / "img" / "a.png", radiograph(700, 150, 150, [(40, 40, 70, 70)]))
    save_image(root / "img" / "b.jpg", radiograph(701, 170, 140), "JPEG")
    save_nifti(root / "vol" / "c.nii.gz", ct_volume(702, (80, 64, 8)), np.diag([0.8, 0.8, 3.0, 1.0]))
    rows = [
        {"image": "img/a.png", "text": "A 3 cm mass in the left upper lung.", "patient_id": "P1",
         "license": "CC BY 4.0", "boxes": [{"x0": 40, "y0": 40, "x1": 70, "y1": 70, "label": "mass"}]},
        {"image": "img/b.jpg", "text": "Normal chest radiograph.", "patient_id": "P2",
         "license": "All rights reserved"},  # left out by the build's licence filter
        {"image": "vol/c.nii.gz", "text": "Nodule in the right lower lobe.", "patient_id": "P3", "modality": "CT",
         "boxes": [list(FOLDER_VOLUME_BOX[:4]) + ["nodule", FOLDER_VOLUME_BOX[4]]]},
        {"image": "img/a.png", "id": "a-bad", "text": "Bad box.", "boxes": [[5, 5, 1, 1, "mass"]]},
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


# --- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def generated_sources(tmp_path_factory) -> dict[str, Path]:
    """Every generated source, once per session: connector name -> its root."""
    base = tmp_path_factory.mktemp("sources")
    mimic_jpg = make_mimic(base / "mimic-cxr-jpg", "jpg")
    return {
        "mimic_cxr": mimic_jpg,
        "mimic_cxr_dicom": make_mimic(base / "mimic-cxr", "dcm"),
        "ms_cxr": make_ms_cxr(base / "ms-cxr", mimic_jpg),
        "iu_xray": make_iu_xray(base / "iu-xray"),
        "roco": make_roco(base / "roco" / "data"),
        "vindr_cxr": make_vindr(base / "vindr-cxr"),
        "chestx_det": make_chestx_det(base / "chestx-det"),
        "ct_rate": make_ct_rate(base / "ct-rate"),
        "folder": make_folder(base / "folder"),
    }


def all_sources_config(sources: dict[str, Path], output: Path):
    """One build config over every connector: the generated sources and the two real collections (when here)."""
    from pipeline.config import BuildConfig, from_dict

    entries = [
        {"name": "mimic_cxr_jpg", "connector": "mimic_cxr", "options": {"root": str(sources["mimic_cxr"])}},
        {"name": "mimic_cxr_dicom", "connector": "mimic_cxr",
         "options": {"root": str(sources["mimic_cxr_dicom"]), "images": "dcm"}},
        {"name": "ms_cxr", "connector": "ms_cxr",
         "options": {"root": str(sources["ms_cxr"]), "images_root": str(sources["mimic_cxr"])}},
        *({"name": name, "connector": name, "options": {"root": str(sources[name])}}
          for name in ("iu_xray", "roco", "vindr_cxr", "chestx_det", "ct_rate")),
        {"name": "folder", "connector": "folder", "options": {"root": str(sources["folder"]), "index": "index.jsonl"}},
        {"name": "covid_chestxray", "connector": "covid_chestxray", "options": {"root": str(REAL / "covid-chestxray")}},
        {"name": "medpix", "connector": "medpix", "options": {"root": str(REAL / "medpix-2.0" / "MedPix-2-0")},
         "detector": False},
    ]
    entries = [e for e in entries if e["name"] not in REAL_COLLECTIONS or e["name"] in REAL_SOURCES]
    return from_dict(BuildConfig, {
        "sources": entries, "output": str(output), "rows_per_shard": 200,
        "image": {"max_side": 256, "frames": {"mode": "even", "count": 3}},
        "licences": {"deny": ["all rights reserved"]},
        "dedup": {"near_duplicates": False},  # the generated images are not meant to be told apart by hashes
    })


@pytest.fixture(scope="session")
def all_sources_build(ray_cluster, generated_sources, tmp_path_factory) -> Path:
    """A real build of every connector at once on the session's Ray; returns the output folder."""
    from pipeline.build import build

    output = tmp_path_factory.mktemp("all-sources-build")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDREGION_DEID_KEY", DEID_KEY)
        build(all_sources_config(generated_sources, output))
    return output


@pytest.fixture(scope="session")
def build_rows(all_sources_build) -> list[dict]:
    from pipeline.inspect import read_shards

    return read_shards(all_sources_build).to_dicts()


@pytest.fixture(scope="session")
def build_rejects(all_sources_build) -> list[dict]:
    return pl.read_ipc_stream(all_sources_build / "rejects.arrow").to_dicts()


def connector(name: str, root: Path, **options):
    """The connector `name` over `root` (patient keys under the test secret)."""
    from connectors import get_connector

    cls = get_connector(name)
    return cls(dataclasses.replace(cls.Options(), root=str(root), **options), DEID_KEY.encode())


@pytest.fixture(scope="session")
def make_connector():
    """`make_connector(name, root, **options)`: a connector over a folder, keyed with the test secret."""
    return connector


@pytest.fixture(scope="session")
def layouts() -> SimpleNamespace:
    """The generators' truth tables (test modules cannot import this conftest)."""
    return SimpleNamespace(**{k: v for k, v in globals().items() if k.isupper()})


@pytest.fixture(scope="session")
def decode_png():
    """PNG bytes -> uint8 array."""
    return lambda data: np.asarray(Image.open(io.BytesIO(data)))
