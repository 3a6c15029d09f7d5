"""Near-duplicate images: resized, re-encoded, re-windowed or slightly cropped copies of one picture.

A 64-bit perceptual hash cannot tell these apart from distinct radiographs: distinct images of one body part
share their layout (in a 300-study sample, 15 of 45,753 distinct pairs have equal hashes), while a 2-4 % crop
moves the hash by 4-18 bits. So a copy is found by what only copies share, the picture's fine detail:
1. candidates: images that share many ORB keypoint descriptors (an inverted index on descriptor chunks, which may be
   split into key partitions whose votes add up; each image's `per_image` best partners), which survives crops
   and rescaling;
2. verification: the affine between the two keypoint sets (RANSAC), then the high-pass detail of one image,
   warped onto the other, compared block by block. The lower quartile of the block correlations (the
   "agreement") of a copy is high (0.76-0.98 on the 1,000-study sample: same noise, same texture); that of
   distinct images is low (at most 0.30 there, even for CT phantoms that differ only in noise and a nodule).
3. keep rule (`keep_rank`): most annotated regions, then the largest original image, then the first in its
   source; rows are visited in that order and a row verified against an already kept row is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import cv2
import numpy as np

FEATURE_SIDE = 512  # keypoints are found on the image scaled to this long side
DETAIL_SIDE = 256  # the detail image is the picture resized to this square
DETAIL_BLOCK = 16  # block side of the detail comparison, detail pixels
DETAIL_SIGMA = 1.5  # the high-pass removes a Gaussian blur of this sigma
CHUNK_BYTES = 4  # descriptor chunk used as an index key
MIN_INLIERS = 8
AGREEMENT_QUANTILE = 0.25  # of the block correlations: a copy agrees nearly everywhere, not only on shared edges
MIN_SPREAD = 0.5  # a block is textured when its detail's standard deviation (grey levels) is above this
DETAIL_SCALE = 128  # detail is kept on a grid of 1/128 grey level, stored as int16: |detail| < 256 fits exactly


@dataclass(frozen=True)
class DedupConfig:
    """The `dedup:` section of a build config."""

    near_duplicates: bool = True  # drop near-duplicate images (False: keep every image)
    candidates_per_image: int = 6  # partners per image checked in detail (those sharing most keypoints)
    min_agreement: float = 0.6  # detail agreement from which two images are one (see the module docstring)


@dataclass(frozen=True)
class Signature:
    """What the near-duplicate check keeps of an image."""

    points: np.ndarray  # float32 (k, 2): keypoint x, y as fractions of the width and height
    descriptors: np.ndarray  # uint8 (k, 32): ORB descriptors
    detail: np.ndarray  # float32 (DETAIL_SIDE, DETAIL_SIDE): high-pass of the image resized to a square, on the
    # grid of 1 / DETAIL_SCALE grey level (stored as int16, held as float32, the type its comparison computes in)

    def to_row(self) -> dict[str, bytes]:
        """The arrays as bytes (`from_row` reads them back exactly)."""
        return {"points": self.points.tobytes(), "descriptors": self.descriptors.tobytes(),
                "detail": np.rint(self.detail * DETAIL_SCALE).astype(np.int16).tobytes()}

    @classmethod
    def from_row(cls, row: dict) -> Signature:
        detail = np.frombuffer(row["detail"], np.int16).reshape(DETAIL_SIDE, DETAIL_SIDE)
        return cls(np.frombuffer(row["points"], np.float32).reshape(-1, 2), cls.descriptors_of(row),
                   detail * np.float32(1 / DETAIL_SCALE))

    @staticmethod
    def descriptors_of(row: dict) -> np.ndarray:
        """The descriptors of a `to_row` row, without reading the rest."""
        return np.frombuffer(row["descriptors"], np.uint8).reshape(-1, 32)

    @cached_property
    def centred_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The detail's blocks (one per row) less their means, and their standard deviations: computed once for
        the image, whatever the number of pairs it is checked in."""
        return _centred(_blocks(self.detail))


@dataclass(frozen=True)
class NearDuplicate:
    index: int  # the dropped image
    kept: int  # the kept image it copies
    agreement: float  # lower quartile of the block correlations of their detail


def keep_rank(annotated_regions: int, orig_width: int, orig_height: int, source: str, source_id: str,
              row_id: str) -> tuple:
    """The keep rule as a sort key (smallest is kept): most annotated regions, largest original, first in source."""
    return (-annotated_regions, -orig_width * orig_height, source, source_id, row_id)


def signature(pixels: np.ndarray, features: int = 300) -> Signature:
    """ORB keypoints of a greyscale uint8 image and its square detail image."""
    height, width = pixels.shape
    scale = FEATURE_SIDE / max(height, width)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.resize(pixels, (round(width * scale), round(height * scale)), interpolation=interpolation)
    keypoints, descriptors = cv2.ORB_create(nfeatures=features).detectAndCompute(image, None)
    points = np.float32([k.pt for k in keypoints]).reshape(-1, 2) / np.float32([image.shape[1], image.shape[0]])
    detail = cv2.resize(pixels, (DETAIL_SIDE, DETAIL_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    detail = np.rint((detail - cv2.GaussianBlur(detail, (0, 0), DETAIL_SIGMA)) * DETAIL_SCALE) / DETAIL_SCALE
    return Signature(points, descriptors if descriptors is not None else np.zeros((0, 32), np.uint8), detail)


def index_keys(descriptors: np.ndarray) -> np.ndarray:
    """The distinct inverted-index keys of an image: each descriptor chunk tagged with its position."""
    per_row = descriptors.shape[1] // CHUNK_BYTES  # explicit, so an image without keypoints gives no keys
    chunks = descriptors.reshape(len(descriptors), per_row, CHUNK_BYTES).view(f"<u{CHUNK_BYTES}")[..., 0]
    chunks = chunks.astype(np.uint64)
    tagged = chunks | (np.arange(chunks.shape[1], dtype=np.uint64) << np.uint64(8 * CHUNK_BYTES))
    return np.unique(tagged)


def key_partitions(keys: np.ndarray, n_partitions: int) -> np.ndarray:
    """The partition of each index key: a fixed multiplicative hash, so every process and every run agree."""
    mixed = (keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    return (mixed % np.uint64(n_partitions)).astype(np.int64)


@dataclass(frozen=True)
class Votes:
    """Index keys shared by pairs of images: `mine` shares `count` keys with `theirs`. Every pair comes in both
    orders, so all of an image's partners are in the rows where it is `mine`; a pair may come several times (from
    several key partitions), and its counts then add up."""

    mine: np.ndarray  # int64
    theirs: np.ndarray  # int64
    count: np.ndarray  # int64

    @classmethod
    def concat(cls, parts: Sequence[Votes]) -> Votes:
        return cls(*(np.concatenate([getattr(p, name) for p in parts] + [np.zeros(0, np.int64)])
                     for name in ("mine", "theirs", "count")))


def shared_key_votes(owners: np.ndarray, values: np.ndarray, max_bucket: int = 64) -> Votes:
    """Per pair of images (`owners`) holding equal keys (`values`, distinct per image): how many they share.

    Keys held by more than `max_bucket` images (flat or generic patches) carry no evidence and are skipped. The keys
    may be any subset of the corpus's that holds every copy of a key (a key partition): the votes add up over them.
    """
    order = np.lexsort((owners, values))
    values, owners = values[order], owners[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if len(values) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(values)])
    n = int(owners.max()) + 1 if len(owners) else 1
    codes = [np.zeros(0, np.int64)]
    for size in range(2, max_bucket + 1):  # every bucket of one size at once: its members (ascending) as a matrix
        first = starts[sizes == size]
        if first.size:
            members = owners[first[:, None] + np.arange(size)].astype(np.int64)
            a, b = np.triu_indices(size, 1)
            codes.append((members[:, a] * n + members[:, b]).ravel())
    pairs, count = np.unique(np.concatenate(codes), return_counts=True)
    a, b = pairs // n, pairs % n
    return Votes(np.r_[a, b], np.r_[b, a], np.r_[count, count].astype(np.int64))


def top_partners(votes: Votes, per_image: int) -> np.ndarray:
    """Pairs (i < j), sorted and distinct, where j is among the `per_image` images sharing most keys with i, or
    i among j's; ties go to the lower index. Only images that are `mine` in `votes` choose partners."""
    if not len(votes.mine):
        return np.zeros((0, 2), np.int64)
    n = int(max(votes.mine.max(), votes.theirs.max())) + 1
    codes = votes.mine * n + votes.theirs
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    count, codes = np.add.reduceat(votes.count[order], starts), codes[starts]  # a pair's votes from every partition
    mine, theirs = codes // n, codes % n
    ranked = np.lexsort((theirs, -count, mine))  # per image: most shared keys first, then the lower index
    mine, theirs = mine[ranked], theirs[ranked]
    place = np.arange(len(mine)) - np.searchsorted(mine, mine)  # position within the image's partner list
    chosen = place < per_image
    pairs = np.stack([np.minimum(mine, theirs)[chosen], np.maximum(mine, theirs)[chosen]], axis=1)
    return np.unique(pairs, axis=0)


def detail_agreement(a: Signature, b: Signature) -> float:
    """Lower quartile of the block correlations of the high-pass detail of `a` and of `b` registered onto it
    (textured blocks inside both images only); 0 when the two cannot be registered."""
    if len(a.descriptors) < MIN_INLIERS or len(b.descriptors) < MIN_INLIERS:
        return 0.0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(a.descriptors, b.descriptors)
    if len(matches) < MIN_INLIERS:
        return 0.0
    source = a.points[[m.queryIdx for m in matches]]
    target = b.points[[m.trainIdx for m in matches]]
    cv2.setRNGSeed(0)  # RANSAC draws from OpenCV's generator: a fixed seed gives the same answer on every run
    affine, inliers = cv2.estimateAffine2D(source, target, method=cv2.RANSAC, ransacReprojThreshold=0.006)
    if affine is None or int(inliers.sum()) < MIN_INLIERS:
        return 0.0
    affine[:, 2] *= DETAIL_SIDE
    warped = cv2.warpAffine(b.detail, affine, (DETAIL_SIDE, DETAIL_SIDE),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    mine, spread_mine = a.centred_blocks
    both = np.flatnonzero(_blocks_inside(affine) & (spread_mine > MIN_SPREAD))  # only these of `b` are looked at
    theirs, spread_theirs = _centred(_blocks(warped)[both])
    textured = spread_theirs > MIN_SPREAD
    if textured.sum() < 4:
        return 0.0
    mine, spread_mine = mine[both[textured]], spread_mine[both[textured]]
    covariance = np.einsum("ij,ij->i", mine, theirs[textured]) / mine.shape[1]
    return _quantile(covariance / (spread_mine * spread_theirs[textured]), AGREEMENT_QUANTILE)


def _quantile(values: np.ndarray, q: float) -> float:
    """`np.quantile(values, q)` (its default, linear method) by partial sorting: a fraction of its call's cost."""
    place = q * (len(values) - 1)
    below = int(place)
    above = min(below + 1, len(values) - 1)
    low, high = np.partition(values, (below, above))[[below, above]]
    return float(low + (high - low) * (place - below))


_EDGES = np.arange(DETAIL_SIDE // DETAIL_BLOCK + 1, dtype=np.float64) * DETAIL_BLOCK
_CORNERS = np.stack([*(c.ravel() for c in np.meshgrid(_EDGES, _EDGES)), np.ones(len(_EDGES) ** 2)])  # x, y, 1


def _blocks_inside(affine: np.ndarray) -> np.ndarray:
    """Per block: whether all its corners land inside the other image under `affine`."""
    mapped = affine @ _CORNERS  # (2, corners): u, v
    ok = ((mapped >= 0) & (mapped <= DETAIL_SIDE)).all(0).reshape(len(_EDGES), len(_EDGES))
    return (ok[:-1, :-1] & ok[1:, :-1] & ok[:-1, 1:] & ok[1:, 1:]).ravel()


def _blocks(image: np.ndarray) -> np.ndarray:
    n = DETAIL_SIDE // DETAIL_BLOCK
    return image.reshape(n, DETAIL_BLOCK, n, DETAIL_BLOCK).transpose(0, 2, 1, 3).reshape(n * n, -1)


def _centred(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blocks (rows) less their means, and their standard deviations."""
    blocks = blocks - blocks.mean(1, keepdims=True)
    return blocks, np.sqrt(np.einsum("ij,ij->i", blocks, blocks) / blocks.shape[1])


def keep_first(ranks: Sequence[tuple], inputs: Sequence[tuple], verified: dict[tuple[int, int], float]
               ) -> list[NearDuplicate]:
    """Apply the keep rule to verified copies: in rank order, a row verified against a kept row is dropped.

    A row is only ever compared with kept rows, so groups never chain; frames of one input (same `inputs`
    entry) are never duplicates of each other.
    """
    partners: dict[int, list[tuple[int, float]]] = {}
    for (a, b), agreement in verified.items():
        if inputs[a] != inputs[b]:
            partners.setdefault(a, []).append((b, agreement))
            partners.setdefault(b, []).append((a, agreement))
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])
    position = {index: place for place, index in enumerate(order)}
    kept: set[int] = set()
    found = []
    for index in order:
        matches = [(-agreement, position[other], other)
                   for other, agreement in partners.get(index, ()) if other in kept]
        if matches:
            agreement, _, other = min(matches)
            found.append(NearDuplicate(index, other, -agreement))
        else:
            kept.add(index)
    return found
