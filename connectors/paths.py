"""Path containment: the files a source's index names lie inside the source's root folder(s).

An index entry such as "../../etc/passwd", an absolute path or `file://` URL elsewhere, a URL of another scheme
outside a root of that scheme (an `s3://` root holds `s3://` paths), or a symbolic link inside the root that leads
out of it, is refused (reason `path_outside_root`) before anything
reads it, unless the source's options say `allow_outside_paths: true` (an index that points at files elsewhere on
purpose).
"""
from __future__ import annotations

import os
from typing import Iterable

OUTSIDE_ROOT = "path_outside_root"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class RootGuard:
    """Says whether paths lie inside any of `roots`, symbolic links followed (directories resolved once each)."""

    def __init__(self, roots: Iterable[str]):
        roots = [root for root in roots if root]
        self.urls = tuple(root.rstrip("/") for root in roots if "://" in root and not root.startswith("file://"))
        roots = [root.removeprefix("file://") for root in roots if "://" not in root or root.startswith("file://")]
        self.real = tuple(os.path.realpath(root) for root in roots)
        self.lexical = tuple(os.path.abspath(root) for root in roots) + self.real  # a root as named, or resolved
        self._real_dirs: dict[str, str] = {}

    def refusal(self, path: str) -> str:
        """"" when `path` ("" included) lies inside a root, else why not (a detail that names no path)."""
        if not path:
            return ""
        if path.startswith("file://"):  # fsspec's local file URL: file:///abs/path
            path = path[len("file://"):]
        elif "://" in path:  # another filesystem (s3://, gs://, ...): inside a root of that filesystem
            inside = any(_inside(path, root) for root in self.urls)
            return "" if inside else "the index names a URL, not a file under the source root"
        absolute = os.path.abspath(path)
        if not any(_inside(absolute, root) for root in self.lexical):
            return "the index names a path outside the source root"
        if not any(_inside(self._realpath(absolute), root) for root in self.real):
            return "the path is a symbolic link (or lies in a linked folder) that leads outside the source root"
        return ""

    def _realpath(self, absolute: str) -> str:
        folder, name = os.path.split(absolute)
        if folder not in self._real_dirs:
            self._real_dirs[folder] = os.path.realpath(folder)
        candidate = os.path.join(self._real_dirs[folder], name)
        return os.path.realpath(candidate) if os.path.islink(candidate) else candidate
