"""iu_xray on generated Open-i XML reports and PNG images."""


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
    (tmp_path / "ecgen-radiology").mkdir()
    (tmp_path / "ecgen-radiology" / "5.xml").write_text(
        '<eCitation><Abstract><AbstractText Label="FINDINGS">Clear lungs.</AbstractText></Abstract>'
        '<parentImage id="CXR5_1_IM-0001-1001"/><parentImage id="CXR5_1_IM-0001-2001"/>'
        '<parentImage id="CXR5_1_IM-0001-1001"/></eCitation>')
    refs = list(make_connector("iu_xray", tmp_path).refs())
    assert [r.source_id for r in refs] == ["CXR5_1_IM-0001-1001", "CXR5_1_IM-0001-2001"]


def test_reports_named_in_upper_case_are_read(tmp_path, make_connector):
    (tmp_path / "ecgen-radiology").mkdir()
    (tmp_path / "ecgen-radiology" / "6.XML").write_text(
        '<eCitation><Abstract><AbstractText Label="FINDINGS">Clear lungs.</AbstractText></Abstract>'
        '<parentImage id="CXR6_1_IM-0002-1001"/></eCitation>')
    (tmp_path / "ecgen-radiology" / "7.xml").mkdir()  # a folder named like a report is no report
    assert [r.source_id for r in make_connector("iu_xray", tmp_path).refs()] == ["CXR6_1_IM-0002-1001"]

