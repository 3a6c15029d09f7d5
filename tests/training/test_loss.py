import math

import torch
import torch.nn.functional as F

from training.loss import info_nce


def unit(n, d=8, seed=0):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_with_distinct_texts_it_is_the_symmetric_clip_loss():
    visual, text, scale = unit(5), unit(5, seed=1), torch.tensor(10.0)
    logits = scale * visual @ text.T
    expected = (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5))) / 2
    torch.testing.assert_close(info_nce(visual, text, torch.arange(5), scale), expected)


def test_rows_sharing_a_text_are_not_each_others_negatives():
    text = torch.eye(3)
    visual = text[[0, 0, 1, 2]]  # two regions with the same text
    index = torch.tensor([0, 0, 1, 2])
    assert info_nce(visual, text, index, torch.tensor(50.0)) < 1e-6
    duplicated = torch.eye(3)[[0, 0, 1, 2]]  # the naive way: the text repeated as two columns
    assert info_nce(visual, duplicated, torch.arange(4), torch.tensor(50.0)) > math.log(2) / 2 - 1e-3


def test_a_hard_negative_counts_only_for_its_own_image():
    text = torch.eye(4)
    visual, index, scale = text.clone(), torch.arange(4), torch.tensor(50.0)
    base = info_nce(visual, text, index, scale)
    close_to_image_0 = F.normalize(text[0] + 0.05 * text[1], dim=0)[None]
    own = info_nce(visual, text, index, scale, close_to_image_0, torch.tensor([0]))
    other = info_nce(visual, text, index, scale, close_to_image_0, torch.tensor([3]))
    assert own > base + 0.07  # row 0 pays about log 2, averaged over 4 rows and 2 directions
    torch.testing.assert_close(other, base, atol=1e-6, rtol=0)
