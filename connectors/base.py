"""What every connector yields: `StudyRef` rows (paths and text, never pixels), and the connector contract.

A connector lives in `connectors/<name>.py` (or a package of that name) and exposes `CONNECTOR`, a
`Connector` subclass with an `Options` dataclass; `connectors.get_connector(name)` finds it by that name.
It implements `source_refs`; callers read `refs`, where rows whose files lie outside the source's root
folder(s) are refused (connectors.paths).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Iterator

from connectors.paths import OUTSIDE_ROOT, RootGuard


@dataclass(frozen=True)
class SourceBox:
    """A box a source annotates, in pixels of the original image as decoded (x0, y0, x1, y1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: str  # canonical, see schemas.labels.canonical_label
    frame: int = -1  # the slice / frame it is drawn on; -1 for a 2-D image (or every frame)


@dataclass(frozen=True)
class StudyRef:
    """One input image (or volume) with its report, as a connector sees it on disk."""

    source: str
    source_id: str  # the image's id inside the source
    patient_key: str  # keyed hash of the source's patient id (Connector.patient_key); never the raw id
    license: str
    image: str = ""  # path or fsspec URL of the image file; "" when the source row has none
    report: str = ""  # report text, raw (de-identified downstream)
    report_path: str = ""  # or a path to read it from, in a worker
    report_truncated: bool = False  # the connector read `report` already cut to annotators.report_text's cap
    boxes: tuple[SourceBox, ...] = ()
    view: str = ""  # the source's own view hint (PA, AP, LATERAL, axial, ...)
    modality: str = ""  # the source's own modality hint (CR, DX, CT, MR, ...)
    split: str = ""  # the source's own split (train / validation / test); "" to assign by patient_key
    report_style: str = "radiology"  # radiology | iu_xray | caption | notes: a hint for report parsing
    detect: bool = True  # run the detector on this image (per-source config)
    reject: str = ""  # a reason code when the connector already knows the row cannot be used
    detail: str = ""  # what went wrong, for a human
    reject_stage: str = "connector"  # who refused the row: connector, or licence (the build's licence filter)
    rescale: tuple[float, ...] = ()  # (slope, intercept) a source states for raw volume values; () = the file's own
    pixel_spacing: tuple[float, ...] = ()  # (row, col) mm per pixel a source states for its images; () = the file's own
    body_part: str = ""  # the source's own body-part hint (CHEST, HEAD, ...); "" = the file's own
    caption_strip: bool = False  # a caption burned into the image's bottom edge (MedPix), cut off when decoded

    def to_row(self) -> dict:
        """A plain dict for a Ray Data row (boxes as a list of dicts)."""
        row = dataclasses.asdict(self)
        row["boxes"] = [dataclasses.asdict(b) for b in self.boxes]
        return row

    @classmethod
    def from_row(cls, row: dict) -> "StudyRef":
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in row.items() if k in fields}
        kwargs["boxes"] = tuple(SourceBox(**b) for b in (row.get("boxes") or ()))
        kwargs["rescale"] = tuple(row.get("rescale") or ())
        kwargs["pixel_spacing"] = tuple(row.get("pixel_spacing") or ())
        return cls(**kwargs)


def shown(value: str) -> str:
    """`value` as valid UTF-8 for a string column: a lone surrogate (from an undecodable file name, or an escape in
    an index) is written as its escape, so the same input always shows the same text."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def record_id(source: str, source_id: str, frame: int) -> str:
    """The stable id of one output image: the same (source, source_id, frame) gives the same id everywhere."""
    digest = hashlib.sha256(f"{source}\x1f{source_id}\x1f{frame}".encode()).hexdigest()
    return f"{source}-{digest[:20]}"


def keyed_hash(value: str, secret: bytes) -> str:
    """HMAC-SHA256 of `value` under `secret`, 24 hex digits: a patient key that cannot be reversed without it."""
    return hmac.new(secret, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:24]


class Connector(ABC):
    """Reads one source's documented layout and yields a `StudyRef` per image, rejects included."""

    name: ClassVar[str]

    @dataclass(frozen=True)
    class Options:
        root: str = ""
        allow_outside_paths: bool = False  # index paths may lead outside the root folder(s): absolute, "..", links

    def __init__(self, options: "Connector.Options", secret: bytes, source: str | None = None):
        self.options = options
        self.source = source or self.name
        self._secret = secret

    def patient_key(self, patient_id: str) -> str:
        """The keyed hash of a raw patient id (namespaced by source)."""
        return keyed_hash(f"{self.source}\x1f{patient_id}", self._secret)

    def refs(self) -> Iterator[StudyRef]:
        """Every input row of the source, in a stable order; unusable rows carry `reject`, and so do rows whose
        image or report path leads outside the source's roots."""
        for ref in self.source_refs():
            yield self.contain(ref)

    @abstractmethod
    def source_refs(self) -> Iterator[StudyRef]:
        """Every input row as the source's layout states it, in a stable order; unusable rows carry `reject`."""

    def roots(self) -> tuple[str, ...]:
        """The folders the source's files must lie in: the `root` option and every `*_root` option that is set."""
        names = (f.name for f in dataclasses.fields(self.options) if f.name == "root" or f.name.endswith("_root"))
        return tuple(value for value in (getattr(self.options, name) for name in names) if value)

    @functools.cached_property
    def _guard(self) -> RootGuard:
        return RootGuard(self.roots())

    def contain(self, ref: StudyRef) -> StudyRef:
        """`ref`, or `ref` refused (`path_outside_root`) when its image or report path lies outside the roots.
        A connector that opens a file itself while listing (to read an image header) calls this first."""
        if self.options.allow_outside_paths or ref.reject == OUTSIDE_ROOT:
            return ref
        why = self._guard.refusal(ref.image) or self._guard.refusal(ref.report_path)
        return dataclasses.replace(ref, reject=OUTSIDE_ROOT, detail=why, reject_stage="connector") if why else ref

    def prepare(self) -> None:
        """Create anything the source needs before `refs` (the sample source renders itself); default none."""
