"""iu_xray on generated Open-i XML reports and PNG images, and on Kaggle's re-packaging of them."""
import shutil

import pytest

from connectors.tables import SourceLayoutError


def _with_images(root):
    """`root` with a PNG in NLMCXR_png/ (the collection's images are there, if not every one)."""
    (root / "NLMCXR_png").mkdir(parents=True, exist_ok=True)
    (root / "NLMCXR_png" / "CXR9999_IM-0000-1001.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return root


def test_rows_per_image_and_rejects_per_report(generated_sources, make_connector):
    refs = list(make_connector("iu_xray", generated_sources["iu_xray"]).refs())
    assert [(r.source_id, r.reject) for r in refs] == [
        ("CXR1_1_IM-0001-3001", ""), ("CXR1_1_IM-0001-4001", ""), ("CXR2_IM-0652-1001", ""),
        ("report-3", "no_image"), ("CXR4_IM-2050-1001", "no_findings")]
    one, lateral = refs[:2]
    assert one.patient_key == lateral.patient_key != refs[2].patient_key
    assert one.license == "CC BY-NC-ND 4.0" and one.report_style == "iu_xray"
    assert one.report.splitlines()[2].startswith("FINDINGS: The cardiac silhouette")
    assert one.report.splitlines()[3] == "IMPRESSION: Normal chest x-XXXX."
    assert one.image.endswith("NLMCXR_png/CXR1_1_IM-0001-3001.png")


def test_broken_xml_is_a_reject(tmp_path, make_connector):
    _with_images(tmp_path)
    (tmp_path / "ecgen-radiology").mkdir()
    (tmp_path / "ecgen-radiology" / "9.xml").write_text("<eCitation><Abstract>")
    [ref] = make_connector("iu_xray", tmp_path).refs()
    assert ref.reject == "corrupt_report" and ref.source_id == "report-9"


def test_build_sections(build_rows):
    rows = {r["source_id"]: r for r in build_rows if r["source"] == "iu_xray"}
    assert sorted(rows) == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001", "CXR2_IM-0652-1001"]
    pneumonia = rows["CXR2_IM-0652-1001"]["report"]
    assert "airspace opacity" in pneumonia["findings"] and "pneumonia" in pneumonia["impression"].lower()


def test_an_image_a_report_names_twice_is_one_input(tmp_path, make_connector):
    _with_images(tmp_path)
    (tmp_path / "ecgen-radiology").mkdir()
    (tmp_path / "ecgen-radiology" / "5.xml").write_text(
        '<eCitation><Abstract><AbstractText Label="FINDINGS">Clear lungs.</AbstractText></Abstract>'
        '<parentImage id="CXR5_1_IM-0001-1001"/><parentImage id="CXR5_1_IM-0001-2001"/>'
        '<parentImage id="CXR5_1_IM-0001-1001"/></eCitation>')
    refs = list(make_connector("iu_xray", tmp_path).refs())
    assert [r.source_id for r in refs] == ["CXR5_1_IM-0001-1001", "CXR5_1_IM-0001-2001"]


def test_reports_named_in_upper_case_are_read(tmp_path, make_connector):
    _with_images(tmp_path)
    (tmp_path / "ecgen-radiology").mkdir()
    (tmp_path / "ecgen-radiology" / "6.XML").write_text(
        '<eCitation><Abstract><AbstractText Label="FINDINGS">Clear lungs.</AbstractText></Abstract>'
        '<parentImage id="CXR6_1_IM-0002-1001"/></eCitation>')
    (tmp_path / "ecgen-radiology" / "7.xml").mkdir()  # a folder named like a report is no report
    assert [r.source_id for r in make_connector("iu_xray", tmp_path).refs()] == ["CXR6_1_IM-0002-1001"]



def test_pngs_unpacked_in_place_are_found(generated_sources, make_connector, tmp_path):
    """NLMCXR_png.tgz holds the PNGs at its top: unpacked beside ecgen-radiology/, there is no NLMCXR_png/ (and a copy
    made on Windows may spell the suffix .PNG)."""
    copy = tmp_path / "iu"
    shutil.copytree(generated_sources["iu_xray"], copy)
    for png in (copy / "NLMCXR_png").iterdir():
        png.rename(copy / f"{png.stem}.PNG")
    (copy / "NLMCXR_png").rmdir()
    refs = [r for r in make_connector("iu_xray", copy).refs() if not r.reject]
    assert [r.image for r in refs] == [str(copy / f"{r.source_id}.PNG") for r in refs] and len(refs) == 3
    for png in copy.glob("*.PNG"):
        png.unlink()
    with pytest.raises(SourceLayoutError, match="no PNG image in .*NLMCXR_png"):  # not every row a missing image
        list(make_connector("iu_xray", copy).refs())


KAGGLE_REPORTS = ('uid,MeSH,Problems,image,indication,comparison,findings,impression\n'
                  '1,normal,normal,Xray Chest PA and Lateral,Chest pain.,None.,"The heart is normal, lungs clear.",'
                  'Normal chest x-XXXX.\n'
                  '2,Opacity,Opacity,Xray Chest PA,,,NA,\n'
                  '3,normal,normal,Xray Chest PA,,,Clear lungs.,No acute disease.\n'
                  '4,normal,normal,Xray Chest PA,,,Clear lungs.,Normal.\n')
KAGGLE_PROJECTIONS = ("uid,filename,projection\n1,1_IM-0001-4001.dcm.png,Frontal\n1,1_IM-0001-3001.dcm.png,Lateral\n"
                      "2,2_IM-0652-1001.dcm.png,Frontal\n4,4_IM-2050-1001.dcm.png,Frontal\n"
                      "5,5_IM-2117-1003002.dcm.png,Frontal\n")


def test_the_kaggle_repackaging(make_connector, tmp_path):
    """raddar/chest-xrays-indiana-university: two CSVs and images/images_normalized/<uid>_IM-....dcm.png; one image
    (uid 4) not downloaded is left to the decode stage as a missing image."""
    (tmp_path / "indiana_reports.csv").write_text(KAGGLE_REPORTS)
    (tmp_path / "indiana_projections.csv").write_text(KAGGLE_PROJECTIONS)
    images = tmp_path / "images" / "images_normalized"
    images.mkdir(parents=True)
    for name in ("1_IM-0001-4001.dcm.png", "1_IM-0001-3001.dcm.png", "2_IM-0652-1001.dcm.png"):
        (images / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    refs = list(make_connector("iu_xray", tmp_path).refs())
    assert [(r.source_id, r.reject) for r in refs] == [
        ("1_IM-0001-4001", ""), ("1_IM-0001-3001", ""), ("2_IM-0652-1001", "no_findings"), ("report-3", "no_image"),
        ("4_IM-2050-1001", ""), ("5_IM-2117-1003002", "no_report")]
    frontal, lateral = refs[:2]
    assert frontal.image == str(images / "1_IM-0001-4001.dcm.png") and frontal.report_style == "iu_xray"
    assert frontal.report.splitlines() == ["INDICATION: Chest pain.", "COMPARISON: None.",
                                           "FINDINGS: The heart is normal, lungs clear.",
                                           "IMPRESSION: Normal chest x-XXXX."]
    assert frontal.patient_key == lateral.patient_key != refs[4].patient_key and frontal.license == "CC BY-NC-ND 4.0"
    xml = make_connector("iu_xray", _with_images(tmp_path / "openi"))
    assert frontal.patient_key == xml.patient_key("1")  # the uid is the Open-i report's number
