import numpy as np
import pytest
from PIL import Image

from training.augment import augment, crop_boxes, flip_boxes, swap_sides
from training.config import AugmentConfig


def square_image(box, width=200, height=150):
    pixels = np.zeros((height, width), dtype=np.uint8)
    x0, y0, x1, y1 = (np.array(box) * [width, height, width, height]).round().astype(int)
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("hflip", [0.0, 1.0])
def test_a_moved_box_still_covers_the_same_bright_square(seed, hflip):
    box = np.array([[0.3, 0.35, 0.55, 0.7]], dtype=np.float32)
    cfg = AugmentConfig(crop_scale=(0.5, 0.9), hflip=hflip, jitter=0.0, min_visible=0.0)
    out = augment(square_image(box[0]), box, np.random.default_rng(seed), cfg, size=96)
    assert out.flipped == bool(hflip) and out.kept.all()
    bright = out.pixels > 128
    x0, y0, x1, y1 = out.boxes[0] * 96
    touched, covered = np.zeros_like(bright), np.zeros_like(bright)  # pixels the box touches / covers whole
    touched[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
    covered[int(np.ceil(y0)) : int(np.floor(y1)), int(np.ceil(x0)) : int(np.floor(x1))] = True
    assert bright.sum() > 100
    assert not (bright & ~touched).any()  # the square lies inside the moved box
    assert bright[covered].all()  # and the moved box is the square


def test_a_box_left_mostly_outside_the_crop_is_dropped():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.45, 0.45, 0.8, 0.8]], dtype=np.float32)
    moved, kept = crop_boxes(boxes, np.array([0.4, 0.4, 1.0, 1.0], dtype=np.float32), min_visible=0.5)
    assert kept.tolist() == [False, True]
    np.testing.assert_allclose(moved, [[0.05 / 0.6, 0.05 / 0.6, 0.4 / 0.6, 0.4 / 0.6]], rtol=1e-5)


def test_flipping_twice_is_the_identity():
    boxes = np.array([[0.1, 0.2, 0.4, 0.9]], dtype=np.float32)
    np.testing.assert_allclose(flip_boxes(boxes), [[0.6, 0.2, 0.9, 0.9]], rtol=1e-6)
    np.testing.assert_allclose(flip_boxes(flip_boxes(boxes)), boxes, rtol=1e-6)


def test_a_flip_swaps_sides_in_texts_and_labels():
    assert swap_sides("Left basal effusion, right apex clear") == "Right basal effusion, left apex clear"
    assert swap_sides("right_lung") == "left_lung"
    assert swap_sides("leftover bright spot") == "leftover bright spot"
