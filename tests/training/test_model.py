import dataclasses

import pytest
import timm
import torch

from training.config import ModelConfig
from training.data import Batch
from training.loss import clip_losses
from training.model import RegionMedCLIP

TINY = ModelConfig(
    image_encoder="vit_tiny_patch16_224",
    image_encoder_args={"patch_size": 8, "depth": 2, "embed_dim": 64, "num_heads": 2},
    text_hidden=32, text_layers=2, text_heads=2, embed_dim=16, roi_dim=16, roi_pool=2, roi_heads=2,
)
VOCAB = 50


def fake_batch(images=4, regions=6, size=64, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    corner = torch.rand(regions, 2, generator=g) * 0.6
    ids = lambda n, length: torch.randint(5, VOCAB, (n, length), generator=g)  # noqa: E731
    return Batch(
        ids=[str(i) for i in range(images)],
        images=torch.randint(0, 256, (images, 1, size, size), dtype=torch.uint8, generator=g),
        text_ids=ids(images, 12), text_mask=torch.ones(images, 12, dtype=torch.long),
        text_index=torch.arange(images), text_keys=torch.arange(images),
        region_boxes=torch.cat([corner, corner + 0.3], dim=1),
        region_image=torch.arange(regions) % images,
        region_labels=["nodule"] * regions,
        region_text_ids=ids(3, 6), region_text_mask=torch.ones(3, 6, dtype=torch.long),
        region_text_index=torch.arange(regions) % 3, region_text_keys=torch.arange(3),
        negative_ids=ids(2, 8), negative_mask=torch.ones(2, 8, dtype=torch.long), negative_owner=torch.tensor([0, 2]),
        position=0,
    )


def build(cfg=TINY, size=64):
    torch.manual_seed(0)
    return RegionMedCLIP(cfg, VOCAB, image_size=size, max_tokens=32)


@pytest.mark.parametrize("encoder", ["vit", "resnet"])
def test_embeddings_are_normalised_and_shaped(encoder):
    cfg = TINY if encoder == "vit" else dataclasses.replace(TINY, image_encoder="resnet18", image_encoder_args={})
    model, batch = build(cfg, size=96), fake_batch(size=96)
    out = model(batch, with_regions=True, with_negatives=True)
    assert out.image.shape == (4, 16) and out.text.shape == (4, 16) and out.negatives.shape == (2, 16)
    assert out.regions.shape == (6, 16) and out.region_text.shape == (3, 16)
    for emb in (out.image, out.text, out.regions):
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(len(emb)))


def test_a_region_embedding_depends_on_where_its_box_is():
    model, batch = build().eval(), fake_batch()
    moved = dataclasses.replace(batch, region_boxes=batch.region_boxes.flip(0))
    with torch.no_grad():
        a = model(batch, with_regions=True, with_negatives=False).regions
        b = model(moved, with_regions=True, with_negatives=False).regions
    assert (a - b).abs().max() > 1e-3


def test_stage_freezing_stops_gradients_where_it_should():
    model, batch = build(), fake_batch()
    model.freeze(0.5, train_regions=False)
    assert not any(p.requires_grad for p in model.roi.parameters())
    assert not model.image.backbone.patch_embed.proj.weight.requires_grad
    assert not model.text.bert.embeddings.word_embeddings.weight.requires_grad
    assert model.image.backbone.blocks[-1].mlp.fc1.weight.requires_grad
    assert model.text.bert.encoder.layer[-1].output.dense.weight.requires_grad
    model.freeze(0.0, train_regions=True)
    clip_losses(model(batch, with_regions=True, with_negatives=True), batch, region_weight=1.0).total.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_batch_without_regions_still_gives_a_finite_loss_and_roi_gradients():
    model = build()
    empty = fake_batch(regions=0)
    losses = clip_losses(model(empty, with_regions=True, with_negatives=True), empty, region_weight=1.0)
    losses.total.backward()
    assert torch.isfinite(losses.total) and losses.region.item() == 0.0
    assert model.roi.cells.weight.grad is not None


def test_the_model_without_roi_has_no_roi_parameters():
    model = build(dataclasses.replace(TINY, roi=False))
    assert model.roi is None
    assert model(fake_batch(), with_regions=True, with_negatives=False).regions is None


def test_image_weights_load_from_a_local_timm_checkpoint(tmp_path):
    source = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=64,
                               **TINY.image_encoder_args)
    torch.save(source.state_dict(), tmp_path / "vit.pth")
    model = build(dataclasses.replace(TINY, image_weights=str(tmp_path / "vit.pth")))
    for name, value in source.state_dict().items():
        assert torch.equal(model.image.backbone.state_dict()[name], value), name
