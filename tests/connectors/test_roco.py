"""roco on a generated copy of the repository's data/ folder (captions, licences, dlinks, fetched images)."""
import shutil

import pytest

from connectors.tables import SourceLayoutError


def test_rows_licences_images_and_article_patients(generated_sources, layouts, make_connector):
    refs = list(make_connector("roco", generated_sources["roco"]).refs())
    assert [r.source_id for r in refs] == [row[1] for row in layouts.ROCO_ROWS]
    for ref, (split, _, pmc, figure, licence, caption, _) in zip(refs, layouts.ROCO_ROWS):
        assert ref.split == split and ref.license == licence and ref.report == caption
        assert ref.image.endswith(f"{split}/radiology/images/{pmc}_{figure}") and not ref.reject
    same_article = [r.patient_key for r in refs if r.source_id in ("ROCO_00003", "ROCO_00005")]
    assert len(set(same_article)) == 1 and len({r.patient_key for r in refs}) == 4


def test_image_names_from_dlinks_when_licences_are_absent(generated_sources, make_connector, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(generated_sources["roco"], copy)
    (copy / "train" / "radiology" / "licences.txt").unlink()
    refs = [r for r in make_connector("roco", copy, splits=("train",)).refs()]
    assert refs[0].image.endswith("images/PMC4083729_AMHSR-4-14-g002.jpg") and refs[0].license == "unknown"
    (copy / "train" / "radiology" / "dlinks.txt").unlink()
    assert {r.reject for r in make_connector("roco", copy, splits=("train",)).refs()} == {"no_image_link"}


def test_build_rows_and_the_unfetched_image(build_rows, build_rejects):
    rows = {r["source_id"]: r for r in build_rows if r["source"] == "roco"}
    assert sorted(rows) == ["ROCO_00002", "ROCO_00003", "ROCO_00020", "ROCO_00041"]
    assert rows["ROCO_00020"]["license"] == "NO-CC CODE" and rows["ROCO_00041"]["split"] == "test"
    [refused] = [r for r in build_rejects if r["source"] == "roco"]
    assert (refused["source_id"], refused["reason"]) == ("ROCO_00005", "missing_image")


def test_a_tab_inside_a_caption_keeps_it_whole_and_a_line_without_one_is_a_reject(generated_sources, make_connector,
                                                                                   tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(generated_sources["roco"], copy)
    captions = copy / "train" / "radiology" / "captions.txt"
    lines = captions.read_text(encoding="utf-8").splitlines()
    first_id, _ = lines[0].split("\t")
    text = "\n".join([f"{first_id}\t Axial CT (A)\tshowing a spiculated nodule (arrow).", "", "a caption with no id",
                      *lines[1:]])
    captions.write_bytes(b"\xef\xbb\xbf" + text.encode())  # with a byte-order mark, as Windows editors save it
    refs = list(make_connector("roco", copy, splits=("train",)).refs())
    assert refs[0].source_id == first_id and refs[0].report == "Axial CT (A) showing a spiculated nodule (arrow)."
    assert refs[0].license == "CC BY-NC-SA" and not refs[0].reject  # the BOM is no part of the id
    assert (refs[1].source_id, refs[1].reject) == ("train/radiology/captions.txt:3", "bad_caption_line")
    assert "caption with no id" not in refs[1].detail + refs[1].report
    assert [r.source_id for r in refs[2:]] == [line.split("\t")[0] for line in lines[1:]]


def test_captions_break_at_newlines_only(generated_sources, make_connector, tmp_path):
    """Captions from PubMed Central text can hold U+2028, form feeds or CRLF endings: still one row each."""
    copy = tmp_path / "data"
    shutil.copytree(generated_sources["roco"], copy)
    captions = copy / "train" / "radiology" / "captions.txt"
    lines = captions.read_text(encoding="utf-8").splitlines()
    first_id, first_caption = lines[0].split("\t")
    captions.write_bytes("\r\n".join([f"{first_id}\tChest film\u2028showing\x0ca mass.", *lines[1:]]).encode())
    refs = list(make_connector("roco", copy, splits=("train",)).refs())
    assert [r.source_id for r in refs] == [line.split("\t")[0] for line in lines]
    assert refs[0].report == "Chest film\u2028showing\x0ca mass." and refs[1].report == lines[1].split("\t")[1].strip()


def test_images_named_by_roco_id_as_the_current_fetch_script_names_them(generated_sources, layouts, make_connector,
                                                                         tmp_path):
    """scripts/fetch.py writes images/ROCO_00002.jpg since commit 0db07be (January 2022): read that name first."""
    copy = tmp_path / "data"
    shutil.copytree(generated_sources["roco"], copy)
    train = copy / "train" / "radiology"
    for _, roco_id, pmc, figure, *_ in (row for row in layouts.ROCO_ROWS if row[0] == "train" and row[6]):
        (train / "images" / f"{pmc}_{figure}").rename(train / "images" / f"{roco_id}.jpg")
    with open(train / "captions.txt", "a") as out:
        out.write("ROCO_00009\t Axial CT of the chest.\n")  # in neither licences nor dlinks, but fetched
    (train / "images" / "ROCO_00009.jpg").write_bytes((train / "images" / "ROCO_00002.jpg").read_bytes())
    refs = {r.source_id: r for r in make_connector("roco", copy, splits=("train",)).refs()}
    assert refs["ROCO_00002"].image == str(train / "images" / "ROCO_00002.jpg") and not refs["ROCO_00002"].reject
    assert refs["ROCO_00002"].license == "CC BY-NC-SA"
    assert refs["ROCO_00005"].image.endswith("images/PMC2837471_IJD2009-150251.002.jpg")  # not fetched: as before
    assert refs["ROCO_00003"].patient_key == refs["ROCO_00005"].patient_key  # still one article
    assert not refs["ROCO_00009"].reject and refs["ROCO_00009"].license == "unknown"
    (train / "images" / "ROCO_00009.jpg").rename(train / "images" / "ROCO_00009.JPG")  # as a copy on Windows names it
    [upper] = [r for r in make_connector("roco", copy, splits=("train",)).refs() if r.source_id == "ROCO_00009"]
    assert upper.image == str(train / "images" / "ROCO_00009.JPG") and not upper.reject


def test_a_licences_row_with_an_unquoted_comma_is_a_reject(generated_sources, make_connector, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(generated_sources["roco"], copy)
    licences = copy / "train" / "radiology" / "licences.txt"
    lines = licences.read_text().splitlines()
    roco_id, pmc_name, _ = lines[1].split(",")
    licences.write_text("\n".join([lines[0], f"{roco_id},{pmc_name.replace('-', ',', 1)},CC BY", *lines[2:]]) + "\n")
    refs = {r.source_id: r for r in make_connector("roco", copy, splits=("train",)).refs()}
    assert refs[roco_id].reject == "bad_index_row" and refs[roco_id].detail.startswith("licences.txt line 2: 4 fields")
    assert [r.reject for r in refs.values()].count("") == 2


def test_the_kaggle_repackaging_names_images_in_its_split_table(generated_sources, layouts, make_connector, tmp_path):
    """virajbagal/roco-dataset: all_data/<split>/radiology/ with captions.txt, traindata.csv (id, name, caption) and
    images/ by PMC name, neither licences.txt nor dlinks.txt; the root may be the folder that holds all_data/. A comma
    in a caption, unquoted, leaves the id and name before it as they are."""
    copy = tmp_path / "kaggle" / "all_data"
    shutil.copytree(generated_sources["roco"], copy)
    train = copy / "train" / "radiology"
    (train / "licences.txt").unlink()
    (train / "dlinks.txt").unlink()
    rows = [row for row in layouts.ROCO_ROWS if row[0] == "train"]
    (train / "traindata.csv").write_text("id,name,caption\n" + "".join(
        f"{roco_id},{pmc}_{figure},{caption} (arrow, left)\n" for _, roco_id, pmc, figure, _, caption, _ in rows))
    refs = list(make_connector("roco", tmp_path / "kaggle", splits=("train",)).refs())
    assert [(r.source_id, r.reject, r.license) for r in refs] == [(row[1], "", "unknown") for row in rows]
    assert [r.image for r in refs] == [str(train / "images" / f"{row[2]}_{row[3]}") for row in rows]


def test_a_rocov2_download_is_named_as_such(make_connector, tmp_path):
    (tmp_path / "train_captions.csv").write_text("ID,Caption\nROCOv2_2023_train_000001,Head CT.\n")
    (tmp_path / "train").mkdir()
    with pytest.raises(SourceLayoutError, match="ROCOv2"):
        list(make_connector("roco", tmp_path).refs())
