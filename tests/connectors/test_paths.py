"""Path containment on real files and real symbolic links: index paths that leave the root are refused, never read."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from connectors.paths import OUTSIDE_ROOT, RootGuard

OPENED: list[str] = []  # every path Python opens while a test below listens (an audit hook cannot be removed)
LISTENING: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if LISTENING and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened():
    """The paths opened while the test runs."""
    OPENED.clear()
    LISTENING.append(True)
    yield OPENED
    LISTENING.clear()


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 32), 128, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def tree(tmp_path) -> dict[str, Path]:
    """A source root with real files and links inside, and a secret folder beside it."""
    root, secret = tmp_path / "root", tmp_path / "secret"
    _png(root / "in.png")
    _png(root / "sub" / "deep.png")
    _png(secret / "out.png")
    (secret / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "link-in.png").symlink_to(root / "in.png")
    (root / "link-out.png").symlink_to(secret / "out.png")
    (root / "linked-dir").symlink_to(secret, target_is_directory=True)
    (root / "relative-link.png").symlink_to(Path("..") / "secret" / "out.png")
    return {"root": root, "secret": secret}


INSIDE = ["in.png", "sub/../in.png", "./sub/deep.png", "link-in.png"]
OUTSIDE = ["../secret/out.png", "sub/../../secret/passwd", "../../../../../../../../etc/passwd", "link-out.png",
           "linked-dir/out.png", "relative-link.png", "http://example.org/x.png"]


def _index(root: Path, images: list[str]) -> None:
    rows = [{"image": image, "text": f"Row {i}: no acute finding.", "id": f"row-{i}"} for i, image in enumerate(images)]
    (root / "index.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_folder_index_paths_outside_the_root_are_refused_and_never_opened(tree, make_connector, opened):
    root, secret = tree["root"], tree["secret"]
    absolute_inside, absolute_outside = str(root / "sub" / "deep.png"), str(secret / "out.png")
    images = INSIDE + [absolute_inside] + OUTSIDE + [absolute_outside, "/etc/passwd"]
    _index(root, images)
    refs = list(make_connector("folder", root, index="index.jsonl", source_ids="as_given").refs())
    assert len(refs) == len(images)
    kept = [r for r in refs if not r.reject]
    refused = [r for r in refs if r.reject]
    assert [r.source_id for r in kept] == [f"row-{i}" for i in range(len(INSIDE) + 1)]
    assert len(refused) == len(OUTSIDE) + 2 and {r.reject for r in refused} == {OUTSIDE_ROOT}
    assert all(r.reject_stage == "connector" and r.detail and str(root) not in r.detail for r in refused)
    by_image = {Path(r.image).name: r.detail for r in refused}
    assert "symbolic link" in by_image["link-out.png"] and "symbolic link" in by_image["relative-link.png"]
    assert "outside the source root" in by_image["passwd"] and "URL" in by_image["x.png"]
    assert not [p for p in opened if str(secret) in os.path.realpath(p) or p.endswith("passwd")]


def test_allow_outside_paths_lets_an_index_point_elsewhere(tree, make_connector):
    _index(tree["root"], OUTSIDE)
    refs = list(make_connector("folder", tree["root"], index="index.jsonl", allow_outside_paths=True).refs())
    assert [r.reject for r in refs] == [""] * len(OUTSIDE)


def test_a_source_whose_root_is_a_link_keeps_its_files(tree, make_connector, tmp_path):
    linked_root = tmp_path / "root-link"
    linked_root.symlink_to(tree["root"], target_is_directory=True)
    _index(tree["root"], INSIDE)
    assert [r.reject for r in make_connector("folder", linked_root, index="index.jsonl").refs()] == [""] * len(INSIDE)


def test_a_connector_that_reads_headers_refuses_before_reading(tree, make_connector, opened):
    """ms_cxr reads each image's header while listing: a path out of the images root is refused first."""
    root, secret = tree["root"], tree["secret"]
    header = "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n"
    lines = ["d1,Pneumonia,Left basal opacity.,in.png,1,1,10,10,32,32",
             "d2,Pneumonia,Planted outside.,../secret/out.png,1,1,10,10,32,32",
             "d3,Pneumonia,Planted link.,link-out.png,1,1,10,10,32,32",
             f"d4,Pneumonia,Planted absolute.,{secret / 'out.png'},1,1,10,10,32,32"]
    (root / "MS_CXR_Local_Alignment_v1.1.0.csv").write_text(header + "\n".join(lines) + "\n")
    refs = {r.source_id: r for r in make_connector("ms_cxr", root).refs()}
    assert not refs["d1"].reject and refs["d1"].boxes
    assert {refs[k].reject for k in ("d2", "d3", "d4")} == {OUTSIDE_ROOT}
    assert str(root / "in.png") in opened  # the listener does hear header reads
    assert not [p for p in opened if str(secret) in os.path.realpath(p)]


def test_root_guard_on_its_own(tree):
    guard = RootGuard([str(tree["root"]), ""])
    assert guard.refusal("") == ""
    assert guard.refusal(str(tree["root"] / "sub" / ".." / "in.png")) == ""
    assert guard.refusal(str(tree["root"]) + "-sibling/x.png")  # a name that merely starts like the root
    assert guard.refusal(str(tree["root"] / "linked-dir" / "passwd"))
    assert RootGuard([str(tree["root"]), str(tree["secret"])]).refusal(str(tree["root"] / "link-out.png")) == ""
    assert guard.refusal(f"file://{tree['root'] / 'in.png'}") == ""  # fsspec's local URL, inside
    assert "outside" in guard.refusal(f"file://{tree['secret'] / 'out.png'}")
    assert "URL" in guard.refusal("s3://bucket/in.png")


def test_urls_are_contained_by_a_root_of_their_own_filesystem():
    from connectors.paths import RootGuard

    guard = RootGuard(["s3://bucket/corpus", "file:///data/src"])
    assert guard.refusal("s3://bucket/corpus/img/1.png") == ""
    assert guard.refusal("s3://bucket/other/1.png") and guard.refusal("gs://bucket/corpus/1.png")
    assert guard.refusal("file:///data/src/a.png") == "" and guard.refusal("file:///etc/passwd")
