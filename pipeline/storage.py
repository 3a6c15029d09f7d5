"""Reading and writing through fsspec, so inputs and outputs may be local paths or URLs (file://, s3://, memory://)."""
from __future__ import annotations

import os
import posixpath
import stat
import uuid
from contextlib import ExitStack, contextmanager
from typing import Iterator

import fsspec
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from schemas.runtime import locked_folder


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of `url` and the path inside it."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def join(url: str, *parts: str) -> str:
    """Join path parts onto a local path or a URL."""
    return posixpath.join(url, *parts) if "://" in url else os.path.join(url, *parts)


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with fs.open(path, "rb") as handle:
        return handle.read()


MAX_INPUT_BYTES = 4 << 30  # an input file is read whole into a worker's memory: above this it is refused


class NotAFile(OSError):
    """An input path that names a folder, a named pipe, a socket or a device rather than a file."""


class TooLarge(OSError):
    """An input file larger than `MAX_INPUT_BYTES` (a whole-slide scan, a video, a sparse file among the images)."""


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def read_input(url: str) -> bytes:
    """The bytes of an input file. A local path that is no regular file raises `NotAFile`: it is opened without
    blocking and checked before any read, so a named pipe or a device cannot stall or flood the build. A file over
    `MAX_INPUT_BYTES` raises `TooLarge` before any read."""
    fs, path = filesystem(url)
    if not isinstance(fs, LocalFileSystem):
        _check_size(fs.size(path))
        return read_bytes(url)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        facts = os.fstat(descriptor)
        if not stat.S_ISREG(facts.st_mode):
            raise NotAFile(f"the path names {next((kind for test, kind in _KINDS if test(facts.st_mode)), 'no file')}")
        _check_size(facts.st_size)
    except OSError:
        os.close(descriptor)
        raise
    with open(descriptor, "rb") as handle:
        return handle.read()


def _check_size(size: int | None) -> None:
    if size is not None and size > MAX_INPUT_BYTES:
        raise TooLarge(f"the file holds {size:,} bytes, over the limit of {MAX_INPUT_BYTES:,}")


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.exists(path)


def size(url: str) -> int | None:
    """The file's size in bytes; None when there is no file at `url`."""
    fs, path = filesystem(url)
    return fs.size(path) if fs.isfile(path) else None


def is_dir(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.isdir(path)


@contextmanager
def atomic_write(url: str) -> Iterator:
    """A binary handle whose content appears at `url` only once complete (temp file, then rename)."""
    fs, path = filesystem(url)
    fs.makedirs(posixpath.dirname(path) or ".", exist_ok=True)
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with fs.open(temp, "wb") as handle:
            yield handle
        fs.mv(temp, path)
    finally:
        if fs.exists(temp):
            fs.rm(temp)


class Busy(OSError):
    """A folder that another process holds (`held`)."""


@contextmanager
def held(url: str) -> Iterator[None]:
    """Hold the local folder `url` (made when missing) while the block runs (schemas.runtime.locked_folder); another
    process asking for it meanwhile gets `Busy` at once. A remote store has no such lock: its folder is not held."""
    fs, path = filesystem(url)
    with ExitStack() as stack:
        if isinstance(fs, LocalFileSystem):
            try:
                stack.enter_context(locked_folder(path, wait=False))
            except BlockingIOError:
                raise Busy(f"{url} is in use by another build: wait for it to end, or give another output") from None
        yield


@contextmanager
def open_arrow(url: str) -> Iterator:
    """A source for pyarrow's readers: a local file memory-mapped (pages are read as they are touched), else a
    seekable fsspec handle."""
    fs, path = filesystem(url)
    if isinstance(fs, LocalFileSystem):
        with pa.memory_map(path) as source:
            yield source
    else:
        with fs.open(path, "rb") as handle:
            yield handle


def write_bytes(url: str, data: bytes) -> None:
    with atomic_write(url) as handle:
        handle.write(data)


def list_files(url: str, suffix: str = "") -> list[str]:
    """Files directly under `url` ending with `suffix`, sorted, as full URLs/paths; [] when it does not exist."""
    fs, path = filesystem(url)
    if not fs.exists(path):
        return []
    protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
    names = sorted(p for p in fs.ls(path, detail=False) if p.endswith(suffix) and ".tmp-" not in p)
    return [f"{protocol}{p}" if protocol and not p.startswith(protocol) else p for p in names]


def remove_tree(url: str) -> None:
    fs, path = filesystem(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)
