"""Decoding: DICOM / NIfTI / PNG / JPEG bytes -> displayed greyscale pixels and de-identified metadata.

`decode(data, name)` sniffs the format and returns one `DecodedImage` per selected frame or slice, or raises
`DecodeError` with a short reason code. Nothing here keeps a patient attribute: see `DecodedImage`.
"""
from __future__ import annotations

from annotators.imaging.normalise import encode_png, resize_long_side
from annotators.imaging.sniff import decode
from annotators.imaging.types import DecodedImage, DecodeError, FrameSelection

__all__ = ["DecodedImage", "DecodeError", "FrameSelection", "decode", "encode_png", "resize_long_side"]
