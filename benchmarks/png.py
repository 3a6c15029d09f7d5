"""PNG compression settings against size and time, on stored images (decoded, long side 512), in one run.

    python benchmarks/png.py --sample out/sample --real ../shared/data/real --count 100

For Pillow's and OpenCV's encoders (annotators.imaging.encode_png calls OpenCV's), at each zlib level and with
zlib's default strategy, its run-length one (rle: matches of the previous byte only) and Huffman coding alone:
milliseconds per image (best of `--repeats`), mean bytes per image and the size against Pillow's level 9, per
image set (the sample's synthetic radiographs; real radiographs and CT/MR slices). The chosen setting is marked.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
import zlib
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotators.imaging import decode, resize_long_side  # noqa: E402
from annotators.imaging.normalise import PNG_COMPRESS_LEVEL, PNG_STRATEGY  # noqa: E402

SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")
LEVELS = (1, 2, 3, 4, 6, 9)
STRATEGIES = {"default": (zlib.Z_DEFAULT_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_DEFAULT),
              "rle": (zlib.Z_RLE, cv2.IMWRITE_PNG_STRATEGY_RLE),
              "huffman": (zlib.Z_HUFFMAN_ONLY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY)}


def stored(files: list[Path]) -> list[np.ndarray]:
    """The pixels a build stores for each file: decoded, long side 512 (files that do not decode are left out)."""
    images = []
    for path in files:
        try:
            images.append(resize_long_side(decode(path.read_bytes(), path.name)[0], 512).pixels)
        except Exception:  # noqa: BLE001 - a benchmark over whatever decodes
            continue
    return images


def pillow(level: int, strategy: str) -> Callable[[np.ndarray], bytes]:
    def encode(pixels: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=level, compress_type=STRATEGIES[strategy][0])
        return buffer.getvalue()

    return encode


def opencv(level: int, strategy: str) -> Callable[[np.ndarray], bytes]:
    flags = [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_STRATEGY, STRATEGIES[strategy][1]]
    return lambda pixels: cv2.imencode(".png", pixels, flags)[1].tobytes()


def measure(images: list[np.ndarray], encode: Callable[[np.ndarray], bytes], repeats: int) -> tuple[float, float]:
    """(ms per image, best of `repeats`; mean bytes per image)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sizes = [len(encode(image)) for image in images]
        best = min(best, time.perf_counter() - start)
    return best / len(images) * 1000, float(np.mean(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=Path, default=Path("out/sample"))
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/real")
    parser.add_argument("--count", type=int, default=100, help="images per set")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sets = {
        "sample": sorted(p for p in args.sample.rglob("*") if p.suffix.lower() in SUFFIXES)[: args.count],
        "real": sorted(p for p in args.real.rglob("images/*") if p.suffix.lower() in SUFFIXES)[:: 2][: args.count],
    }
    chosen_strategy = next(name for name, (_, flag) in STRATEGIES.items() if flag == PNG_STRATEGY)
    chosen = ("opencv", PNG_COMPRESS_LEVEL, chosen_strategy)
    print(f"chosen: {' '.join(map(str, chosen))} (annotators/imaging/normalise.py)")
    print(f"{'set':<8}{'images':>7} {'encoder':<8}{'level':>6} {'strategy':<9}{'ms/image':>9}{'KiB/image':>11}"
          f"{'vs Pillow 9':>12}")
    for name, files in sets.items():
        images = stored(files)
        if not images:
            continue
        rows = [(encoder.__name__, level, strategy, *measure(images, encoder(level, strategy), args.repeats))
                for encoder in (pillow, opencv) for strategy in STRATEGIES for level in LEVELS]
        smallest = next(size for encoder, level, strategy, _, size in rows
                        if (encoder, level, strategy) == ("pillow", 9, "default"))
        for encoder, level, strategy, ms, size in rows:
            mark = " <- chosen" if (encoder, level, strategy) == chosen else ""
            print(f"{name:<8}{len(images):>7} {encoder:<8}{level:>6} {strategy:<9}{ms:>9.2f}{size / 1024:>11.1f}"
                  f"{size / smallest:>12.2f}{mark}", flush=True)


if __name__ == "__main__":
    main()
