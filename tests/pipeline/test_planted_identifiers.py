"""No planted identifier leaves a build: a folder source whose reports, patient ids, file names, box labels and DICOM
headers carry every kind of identifier that HIPAA Safe Harbor lists, built for real on the session's Ray, reported and
laid out for the Hub; every output byte (shards, manifest, rejects, report, Hub folder) is searched, and the
compressed Parquet and Arrow files are searched again as decoded text. Inputs that are no image or lie outside
the root are in the same build: every input is a row or a reject, and a rebuild writes the same bytes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from pipeline.build import build
from pipeline.cli import app
from pipeline.config import load_config

# Each at least 5 characters, so that none turns up by chance inside compressed image bytes.
PLANTED = {
    "ssn": ["078-05-1120"],
    "names": ["Halvardsen", "Quistgaard", "Solbergova", "Brekkestad", "Vikersund", "Lindqvist", "Amundsenn"],
    "email": ["h.quistgaard@fjordmail.example", "fjordmail"],
    "url": ["portal.fjordhospital.example", "fjordhospital"],
    "phone": ["555-0142", "555-0199", "7946 0958"],
    "ids": ["7731942", "5588120", "44871236", "HP-992211"],
    "address": ["1427 Fjordview", "Fjordview", "Portland", "97205", "Box 8812"],
    "dates": ["03/14/2019", "2019-03-14", "March 14", "14-Mar-2019", "3rd of May", "May 3rd", "19290417",
              "20190314"],
    "times": ["10:47", "0830 hours"],
    "ages": ["94-year", "aged 97"],
    "patient_ids": ["PID-HALV-0042", "PID-SOLB-0043"],
    "dicom": ["Kjeldsberg", "DCM-3318842", "Fjordheim"],
}
SECRETS = [s for group in PLANTED.values() for s in group]
REPORTS = [
    "PATIENT: HALVARDSEN, QUISTGAARD\nMRN: 7731942\nEXAMINATION: CHEST PA on 03/14/2019 at 10:47 AM.\n"
    "FINDINGS: 5 mm nodule in the right upper lobe. T2 and T11 vertebrae intact.\n"
    "IMPRESSION: Right upper lobe nodule. Discussed with Dr. Brekkestad at (617) 555-0142.",
    "Patient: Solbergova Vikersund\nSSN 078-05-1120. Account No: 5588120. Accession No: 44871236.\n"
    "FINDINGS: Small left pleural effusion, 2 cm, grade 2. Study dated 2019-03-14, 20190314.\n"
    "IMPRESSION: Left pleural effusion. Contact h.quistgaard@fjordmail.example or "
    "https://portal.fjordhospital.example/results/7731 or fax: 617-555-0199.",
    "Pt. Lindqvist Amundsenn, a 94-year-old woman, lives at 1427 Fjordview Avenue, Portland, OR 97205, "
    "PO Box 8812. Health plan number: HP-992211. Tel +44 20 7946 0958.\n"
    "FINDINGS: Cardiomegaly. Mild interstitial edema at C5-C6 level unchanged since March 14, 2019.\n"
    "IMPRESSION: Cardiomegaly with mild edema, seen again on 14-Mar-2019 at 0830 hours.",
    "FINDINGS: Right lower lobe consolidation, 55% of the lobe. The patient, aged 97, was seen by "
    "Mrs. Solbergova on the 3rd of May 2019 and on May 3rd.\nIMPRESSION: Right lower lobe pneumonia.\n"
    "Dictated by BREKKESTAD VIKERSUND MD. Ref. Phys.: Amundsenn. Reviewed by: Lindqvist, K. "
    "Copy for QUISTGAARD^HALVARDSEN, Solbergova Brekkestad MRN 5588120.",
]
CLINICAL = ["5 mm nodule", "T2 and T11", "2 cm, grade 2", "C5-C6", "55%", "Cardiomegaly", "90+"]


def _radiograph(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 220, size=(8, 8)).astype(np.float32)
    pixels = np.asarray(Image.fromarray(coarse).resize((256, 256), Image.Resampling.BICUBIC))
    pixels = np.clip(pixels + rng.normal(0, 6, pixels.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def _source(base: Path) -> Path:
    root, outside = base / "src", base / "outside"
    (root / "img").mkdir(parents=True)
    outside.mkdir()
    for i in range(3):
        _radiograph(root / "img" / f"study-{i}.png", seed=10 + i)
    _radiograph(root / "img" / "Halvardsen_20190314.png", seed=13)  # a row without an id: its path is the id
    dicom = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dicom.PatientName, dicom.PatientID, dicom.PatientBirthDate = "Kjeldsberg^Halvardsen", "DCM-3318842", "19290417"
    dicom.InstitutionName, dicom.ReferringPhysicianName = "Fjordheim Clinic", "Brekkestad^Torvald"
    dicom.BodyPartExamined = "CHEST KJELDSBERG"  # a name typed into an allow-listed code string
    dicom.save_as(root / "img" / "study-3.dcm")
    (root / "img" / "notes.png").write_text("Not an image. " + REPORTS[0])
    (root / "img" / "empty.png").write_bytes(b"")
    _radiograph(outside / "elsewhere.png", seed=99)
    (root / "img" / "linked.png").symlink_to(outside / "elsewhere.png")
    rows = [{"id": f"study-{i}", "image": f"img/study-{i}.{'dcm' if i == 3 else 'png'}", "text": text,
             "patient_id": PLANTED["patient_ids"][i % 2], "boxes": [[20, 20, 90, 90, "Halvardsen lesion"]]}
            for i, text in enumerate(REPORTS)]
    rows += [{"image": "img/Halvardsen_20190314.png", "text": "FINDINGS: No acute cardiopulmonary process."},
             {"id": "no-image", "image": "img/notes.png", "text": REPORTS[1]},
             {"id": "empty-file", "image": "img/empty.png", "text": REPORTS[2]},
             {"id": "dot-dot", "image": "../outside/elsewhere.png", "text": REPORTS[3]},
             {"id": "absolute", "image": str(outside / "elsewhere.png"), "text": REPORTS[3]},
             {"id": "link-out", "image": "img/linked.png", "text": REPORTS[3]},
             {"id": "passwd", "image": "../../../../../../../../etc/passwd", "text": REPORTS[0]}]
    (root / "index.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def _config(base: Path, root: Path, output: Path):
    (base / "planted.yaml").write_text(
        f"output: {output}\nrows_per_shard: 4\nsources:\n"
        f"  - {{name: planted, connector: folder, detector: false, options: {{root: {root}, index: index.jsonl, "
        f"license: CC BY 4.0, report_style: radiology}}}}\n"
        "image: {max_side: 256}\nsplit: {validation: 0.2, test: 0.2}\n")
    return load_config(base / "planted.yaml")


@pytest.fixture(scope="module")
def planted_build(ray_cluster, tmp_path_factory):
    """(source root, build folder, rebuild folder, Hub folder) with the key the connector needs in the env."""
    base = tmp_path_factory.mktemp("planted")
    root = _source(base)
    before = os.environ.get("MEDREGION_DEID_KEY")
    os.environ["MEDREGION_DEID_KEY"] = "planted-identifiers-test-key"
    try:
        build(_config(base, root, base / "corpus"))
        build(_config(base, root, base / "again"))
    finally:
        if before is None:
            os.environ.pop("MEDREGION_DEID_KEY")
        else:
            os.environ["MEDREGION_DEID_KEY"] = before
    runner = CliRunner()
    outcome = runner.invoke(app, ["report", str(base / "corpus")])
    assert outcome.exit_code == 0, outcome.output
    outcome = runner.invoke(app, ["publish", str(base / "corpus"), "--repo-id", "test/planted", "--dry-run",
                                  "--out", str(base / "hub")])
    assert outcome.exit_code == 0, outcome.output
    return root, base / "corpus", base / "again", base / "hub"


def _decoded_text(path: Path) -> str:
    """The text columns of an Arrow stream or Parquet file, decoded (their bytes may be compressed)."""
    table = pq.read_table(path) if path.suffix == ".parquet" else pa.ipc.open_stream(path).read_all()
    keep = [name for name, kind in zip(table.column_names, table.schema.types) if kind != pa.struct(
        [("bytes", pa.binary()), ("path", pa.string())])]
    return json.dumps(table.select(keep).to_pylist(), default=str)


def test_no_planted_identifier_is_in_any_output_byte(planted_build):
    _, corpus, _, hub = planted_build
    files = sorted(p for folder in (corpus, hub) for p in folder.rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"manifest.json", "rejects.arrow", "report.html", "README.md"} <= names
    assert any(p.suffix == ".parquet" for p in files) and any(p.parent.name == "shards" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (secret, str(path))
        if path.suffix in (".parquet", ".arrow"):
            text = _decoded_text(path)
            leaked = [secret for secret in SECRETS if secret in text]
            assert not leaked, (leaked, str(path))


def test_clinical_content_survives_and_placeholders_show(planted_build):
    _, corpus, _, _ = planted_build
    text = " ".join(_decoded_text(p) for p in sorted((corpus / "shards").glob("*.arrow")))
    for kept in CLINICAL:
        assert kept in text, kept
    for placeholder in ("[NAME]", "[SSN]", "[EMAIL]", "[URL]", "[PHONE]", "[ID]", "[ADDRESS]", "[DATE]", "[TIME]"):
        assert placeholder in text, placeholder


def test_every_input_is_a_row_or_a_reject_and_a_rebuild_is_identical(planted_build):
    _, corpus, again, _ = planted_build
    manifest = json.loads((corpus / "manifest.json").read_text())
    counts = manifest["sources"]["planted"]
    assert counts["inputs"] == 11 == counts["rows"] + counts["rejects"] and counts["rows"] == 5
    rejects = pa.ipc.open_stream(corpus / "rejects.arrow").read_all().to_pylist()
    assert sorted(r["reason"] for r in rejects) == [
        "empty_file", "path_outside_root", "path_outside_root", "path_outside_root", "path_outside_root",
        "unknown_format"]
    assert all("0x" not in r["detail"] and "object at" not in r["detail"] for r in rejects)
    first = sorted(p.relative_to(corpus) for p in corpus.rglob("*") if p.is_file() and p.name != "report.html")
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (corpus / rel).read_bytes() == (again / rel).read_bytes(), rel
