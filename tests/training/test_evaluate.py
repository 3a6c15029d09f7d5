import json
import shutil

import pytest
import timm
import torch
from transformers import BertConfig, BertModel
from typer.testing import CliRunner

from pipeline.cli import app
from training.evaluate import evaluate, format_metrics, recall_at_k, region_crops
from training.tokenizer import train_bpe
from training.train import train


def test_recall_counts_a_hit_when_any_positive_is_in_the_top_k():
    similarity = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.7, 0.6, 0.1]])
    positive = torch.tensor([[True, False, False], [True, False, False], [False, True, True]])
    metrics = recall_at_k(similarity, positive, "q")
    assert metrics == pytest.approx({"q_R@1": 1 / 3, "q_R@5": 1.0, "q_R@10": 1.0})
    assert recall_at_k(similarity[:, :2], positive[:, :2], "q")["q_R@5"] == pytest.approx(1.0)  # k > gallery


def test_a_region_crop_is_the_box_resized_to_the_image():
    images = torch.zeros(2, 1, 64, 64, dtype=torch.uint8)
    images[1, 0, 16:32, 32:64] = 200  # a bright block in image 1
    crops = region_crops(images, torch.tensor([[0.5, 0.25, 1.0, 0.5], [0.0, 0.0, 0.5, 0.5]]), torch.tensor([1, 1]))
    assert crops.shape == (2, 1, 64, 64)
    assert crops[0].float().mean() > 190  # the box covers the block exactly
    assert crops[1].float().mean() < 60  # the other box barely touches it


def test_eval_reports_every_metric_for_roi_and_global_only_models(synthetic_corpus, tiny_config, tmp_path):
    for roi in (True, False):
        run = tmp_path / f"roi-{roi}"
        cfg = tiny_config(run, synthetic_corpus)
        cfg.model.roi = roi
        train(cfg)
        metrics = evaluate(run)
        assert metrics["images"] == 60 and metrics["regions"] > 60 and metrics["region_texts"] <= 8
        for key in ("image_to_text", "text_to_image", "region_to_text"):
            assert 0 <= metrics[f"{key}_R@1"] <= metrics[f"{key}_R@5"] <= metrics[f"{key}_R@10"] <= 1
        assert metrics["zeroshot_image_labels"] == 2 and 0 <= metrics["zeroshot_image_auc"] <= 1
        assert metrics["region_to_text_R@10"] == 1.0  # 8 distinct texts: every one is in the top 10
        assert json.loads((run / "eval_test.json").read_text()) == metrics
        assert "region_to_text_R@1" in format_metrics(metrics)


def test_a_run_moved_away_from_its_pretrained_weights_evaluates_the_same(synthetic_corpus, tiny_config, tmp_path):
    """The checkpoint holds every weight: eval reads neither `image_weights` nor the `text_model` folder."""
    cfg = tiny_config(tmp_path / "run", synthetic_corpus, stages=[{"name": "joint", "steps": 2, "lr": 1e-3,
                                                                  "region_weight": 1.0}])
    vit = timm.create_model(cfg.model.image_encoder, num_classes=0, img_size=64, **cfg.model.image_encoder_args)
    torch.save(vit.state_dict(), tmp_path / "vit.pth")
    bert = tmp_path / "bert"  # a local model folder: its tokenizer and its weights
    train_bpe([f"nodule {i} in the upper left" for i in range(40)], 300).save_pretrained(str(bert))
    BertModel(BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(str(bert))
    cfg.model.image_weights, cfg.model.text_model, cfg.tokenizer.path = str(tmp_path / "vit.pth"), str(bert), str(bert)
    train(cfg)
    before = evaluate(cfg.out_dir)
    (tmp_path / "vit.pth").unlink()
    shutil.rmtree(bert)
    moved = CliRunner().invoke(app, ["eval", cfg.out_dir, "--json"])
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout) == before
