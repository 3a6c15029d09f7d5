"""Near-duplicate detection on real sample radiographs: copies agree in detail, distinct images do not."""
from __future__ import annotations

import io
import itertools
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from annotators.duplicates import (
    AGREEMENT_QUANTILE,
    DETAIL_BLOCK,
    DETAIL_SCALE,
    DETAIL_SIDE,
    Signature,
    Votes,
    detail_agreement,
    index_keys,
    keep_first,
    key_partitions,
    shared_key_votes,
    signature,
    top_partners,
)
from annotators.imaging import FrameSelection, decode, resize_long_side

MIN_AGREEMENT = 0.6


def _stored(image) -> np.ndarray:
    return resize_long_side(image, 512).pixels


@pytest.fixture(scope="module")
def originals(sample_root) -> dict[str, object]:
    """Decoded distinct sample studies (planted copies and broken inputs left out), by source id."""
    truth = [json.loads(line) for line in (sample_root / "truth.jsonl").read_text().splitlines()]
    chosen = [t for t in truth if not t["broken"] and not t["duplicate_of"]][:10]
    return {t["source_id"]: decode((sample_root / t["image"]).read_bytes(), t["image"], FrameSelection())[0]
            for t in chosen}


def _copies(image) -> dict[str, np.ndarray]:
    """A resized, a re-encoded (JPEG) and a slightly cropped copy, each as the pipeline would store it."""
    pixels = image.pixels
    height, width = pixels.shape
    resized = np.asarray(Image.fromarray(pixels).resize((int(width * 0.75), int(height * 0.75)), Image.BILINEAR))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=75)
    jpeg = np.asarray(Image.open(buffer))
    cropped = np.ascontiguousarray(pixels[int(0.03 * height):int(0.97 * height), int(0.02 * width):int(0.96 * width)])
    return {name: _stored(type(image)(p, p.shape[1], p.shape[0])) for name, p in
            (("resize", resized), ("jpeg", jpeg), ("crop", cropped))}


def candidate_pairs(keys: list[np.ndarray], per_image: int) -> list[tuple[int, int]]:
    """`top_partners` over the whole index at once: one partition, every image."""
    owners = np.concatenate([np.full(len(k), i, dtype=np.int64) for i, k in enumerate(keys)])
    return [(int(a), int(b)) for a, b in top_partners(shared_key_votes(owners, np.concatenate(keys)), per_image)]


def test_copies_agree_and_distinct_images_do_not(originals):
    signatures = {k: signature(_stored(v)) for k, v in originals.items()}
    for source_id, image in list(originals.items())[:4]:
        for edit, pixels in _copies(image).items():
            agreement = detail_agreement(signatures[source_id], signature(pixels))
            assert agreement > 0.85, (source_id, edit, agreement)
    distinct = [detail_agreement(signatures[a], signatures[b]) for a, b in itertools.combinations(signatures, 2)]
    assert max(distinct) < 0.3, max(distinct)


def test_agreement_is_deterministic(originals):
    first, second = [signature(_stored(v)) for v in list(originals.values())[:2]]
    copy = signature(_copies(list(originals.values())[0])["crop"])
    assert detail_agreement(first, copy) == detail_agreement(first, copy)
    assert detail_agreement(first, second) == detail_agreement(first, second)


def plain_agreement(a: Signature, b: Signature) -> float:
    """detail_agreement written out plainly: every block's statistics by numpy, then np.quantile."""
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(a.descriptors, b.descriptors)
    cv2.setRNGSeed(0)
    affine, _ = cv2.estimateAffine2D(a.points[[m.queryIdx for m in matches]], b.points[[m.trainIdx for m in matches]],
                                     method=cv2.RANSAC, ransacReprojThreshold=0.006)
    affine[:, 2] *= DETAIL_SIDE
    warped = cv2.warpAffine(b.detail, affine, (DETAIL_SIDE, DETAIL_SIDE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    n = DETAIL_SIDE // DETAIL_BLOCK
    found = []
    for row, col in itertools.product(range(n), range(n)):
        window = np.s_[row * DETAIL_BLOCK:(row + 1) * DETAIL_BLOCK, col * DETAIL_BLOCK:(col + 1) * DETAIL_BLOCK]
        corners = np.array([[x, y, 1] for x in (window[1].start, window[1].stop) for y in (window[0].start,
                                                                                          window[0].stop)]).T
        if ((affine @ corners < 0) | (affine @ corners > DETAIL_SIDE)).any():
            continue
        mine, theirs = a.detail[window].ravel(), warped[window].ravel()
        if mine.std() > 0.5 and theirs.std() > 0.5:
            found.append(np.mean((mine - mine.mean()) * (theirs - theirs.mean())) / (mine.std() * theirs.std()))
    return float(np.quantile(found, AGREEMENT_QUANTILE))


def test_agreement_is_the_lower_quartile_of_the_textured_blocks_correlations(originals):
    images = list(originals.values())
    first, second = signature(_stored(images[0])), signature(_stored(images[1]))
    crop, resize = signature(_copies(images[0])["crop"]), signature(_copies(images[1])["resize"])
    for a, b in ((first, crop), (crop, first), (second, resize)):  # pairs that register (others score 0)
        assert detail_agreement(a, b) == pytest.approx(plain_agreement(a, b), abs=1e-5)


def test_a_signature_comes_back_from_its_row_exactly(originals):
    made = signature(_stored(next(iter(originals.values()))))
    assert np.array_equal(made.detail * DETAIL_SCALE, np.rint(made.detail * DETAIL_SCALE))  # on the stored grid
    back = Signature.from_row(made.to_row())
    for name in ("points", "descriptors", "detail"):
        assert np.array_equal(getattr(back, name), getattr(made, name)) and getattr(back, name).dtype == getattr(
            made, name).dtype, name


def test_candidates_pair_each_copy_with_its_original(originals):
    images = list(originals.values())
    pixels = [_stored(image) for image in images] + [_copies(images[i])[edit] for i, edit in
                                                     ((1, "crop"), (3, "jpeg"), (5, "resize"))]
    keys = [index_keys(signature(p).descriptors) for p in pixels]
    pairs = set(candidate_pairs(keys, per_image=3))
    n = len(images)
    assert {(1, n), (3, n + 1), (5, n + 2)} <= pairs


def test_partitioned_votes_give_the_pairs_of_the_whole_index(originals):
    """Keys split into partitions and images into groups (as pipeline.dedup does) give candidate_pairs' answer."""
    images = list(originals.values())
    pixels = [_stored(image) for image in images] + [_copies(image)["crop"] for image in images[:4]]
    keys = [index_keys(signature(p).descriptors) for p in pixels]
    owners = np.concatenate([np.full(len(k), i) for i, k in enumerate(keys)])
    values = np.concatenate(keys)
    whole = candidate_pairs(keys, per_image=2)
    for n_partitions in (2, 5):
        partition = key_partitions(values, n_partitions)
        assert len(set(partition.tolist())) == n_partitions  # the hash spreads the keys over every partition
        votes = Votes.concat([shared_key_votes(owners[partition == p], values[partition == p])
                              for p in range(n_partitions)])
        group = votes.mine % 3  # any split of the images: each sees all of its own votes
        chosen = [top_partners(Votes(votes.mine[m], votes.theirs[m], votes.count[m]), per_image=2)
                  for m in (group == g for g in range(3))]
        assert [tuple(pair) for pair in np.unique(np.concatenate(chosen), axis=0).tolist()] == whole


def test_top_partners_add_up_votes_from_every_partition():
    # Image 0 shares 3 keys with 1 in one partition; with 2 it shares 2 + 2 keys over two partitions: 2 wins.
    votes = Votes.concat([Votes(np.array([0, 1]), np.array([1, 0]), np.array([3, 3])),
                          Votes(np.array([0, 2]), np.array([2, 0]), np.array([2, 2])),
                          Votes(np.array([0, 2]), np.array([2, 0]), np.array([2, 2]))])
    only_zero = np.flatnonzero(votes.mine == 0)
    chosen = top_partners(Votes(votes.mine[only_zero], votes.theirs[only_zero], votes.count[only_zero]), per_image=1)
    assert chosen.tolist() == [[0, 2]]
    tie = Votes(np.array([3, 3]), np.array([5, 4]), np.array([1, 1]))
    assert top_partners(tie, per_image=1).tolist() == [[3, 4]]  # a tie goes to the lower index
    assert top_partners(Votes.concat([]), per_image=1).shape == (0, 2)


def test_keep_rule_picks_the_best_ranked_and_never_chains():
    ranks = [(2,), (0,), (1,), (3,)]
    inputs = [("s", "a"), ("s", "b"), ("s", "c"), ("s", "d")]
    # 1 is kept (best rank); 2 copies 1; 0 copies 2 only (a chain through a dropped row: 0 stays); 3 copies 1 and 0.
    verified = {(1, 2): 0.95, (0, 2): 0.9, (1, 3): 0.8, (0, 3): 0.99}
    found = {(d.index, d.kept) for d in keep_first(ranks, inputs, verified)}
    assert found == {(2, 1), (3, 0)}


def test_frames_of_one_input_are_never_duplicates():
    found = keep_first([(0,), (1,)], [("s", "volume"), ("s", "volume")], {(0, 1): 0.99})
    assert found == []


def test_a_signature_survives_its_row_form():
    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 90, np.uint8)  # no keypoints
    for pixels in (rng.integers(0, 256, (300, 240), dtype=np.uint8), flat):
        original = signature(pixels)
        back = Signature.from_row(original.to_row())
        for name in ("points", "descriptors", "detail"):
            assert np.array_equal(getattr(back, name), getattr(original, name)), name
            assert getattr(back, name).dtype == getattr(original, name).dtype
