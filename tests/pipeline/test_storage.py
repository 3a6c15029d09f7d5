"""pipeline.storage on a local folder, a file:// URL and fsspec's in-memory filesystem alike."""
import uuid

import pytest

from pipeline import storage


@pytest.fixture(params=["path", "file", "memory"])
def root(request, tmp_path) -> str:
    if request.param == "memory":
        url = f"memory://medregion-{uuid.uuid4().hex}"
        yield url
        storage.remove_tree(url)
    else:
        yield str(tmp_path) if request.param == "path" else f"file://{tmp_path}"


def test_written_files_read_back_list_in_order_and_remove(root):
    folder = storage.join(root, "out", "parts")
    for name in ("b.arrow", "a.arrow", "c.json"):
        storage.write_bytes(storage.join(folder, name), name.encode())
    listed = storage.list_files(folder, ".arrow")
    assert [url.rsplit("/", 1)[1] for url in listed] == ["a.arrow", "b.arrow"]
    assert [storage.read_bytes(url) for url in listed] == [b"a.arrow", b"b.arrow"]
    assert {type(storage.filesystem(url)[0]) for url in listed} == {type(storage.filesystem(root)[0])}
    assert storage.exists(storage.join(folder, "c.json"))
    storage.remove_tree(storage.join(root, "out"))
    assert not storage.exists(folder) and storage.list_files(folder) == []


def test_a_failed_write_leaves_neither_the_file_nor_its_temporary(root):
    target = storage.join(root, "manifest.json")
    storage.write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with storage.atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("the writer died")
    assert storage.read_bytes(target) == b"old"
    assert [url.rsplit("/", 1)[1] for url in storage.list_files(root)] == ["manifest.json"]
    fs, path = storage.filesystem(root)
    assert not [name for name in fs.ls(path, detail=False) if ".tmp-" in name]
