"""pipeline.storage on a local folder, a file:// URL and fsspec's in-memory filesystem alike."""
import os
import threading
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


def test_an_input_that_is_no_regular_file_is_refused_before_any_read(tmp_path, root):
    os.mkfifo(tmp_path / "pipe.png")  # opened for reading, a pipe without a writer would wait forever
    (tmp_path / "scan.png").mkdir()
    outcomes = {}

    def read_each():
        for name in ("pipe.png", "scan.png", "/dev/zero"):
            try:
                storage.read_input(str(tmp_path / name))
            except storage.NotAFile as exc:
                outcomes[name] = str(exc)

    reader = threading.Thread(target=read_each, daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert outcomes == {"pipe.png": "the path names a named pipe", "scan.png": "the path names a folder",
                        "/dev/zero": "the path names a character device"}
    storage.write_bytes(storage.join(root, "film.png"), b"pixels")
    assert storage.read_input(storage.join(root, "film.png")) == b"pixels"  # local, file:// and memory:// alike


def test_an_input_over_the_size_limit_is_refused_before_any_read(tmp_path, root, monkeypatch):
    with open(tmp_path / "slide.png", "wb") as handle:  # sparse: 5 GiB that take no disk and are never read
        handle.truncate(storage.MAX_INPUT_BYTES + (1 << 30))
    with pytest.raises(storage.TooLarge, match="over the limit"):
        storage.read_input(str(tmp_path / "slide.png"))
    small = storage.join(root, "film.png")
    storage.write_bytes(small, b"x" * 64)
    monkeypatch.setattr(storage, "MAX_INPUT_BYTES", 32)  # the same check on a path, file:// and memory://
    with pytest.raises(storage.TooLarge):
        storage.read_input(small)
