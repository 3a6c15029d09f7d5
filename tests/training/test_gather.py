"""Two real gloo ranks (torchrun) gather a contrastive level: each computes the loss of the global batch, equal to
one process's loss over both ranks' rows, and the gradients it returns are the global loss's, times the ranks."""
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from training.data import text_key
from training.gather import Level
from training.loss import info_nce

ROOT = Path(__file__).resolve().parents[2]
SCALE = 10.0
WORKER = """
import sys, torch, torch.distributed as dist
from training.gather import Level
from training.loss import level_loss
dist.init_process_group("gloo")
rank, folder = dist.get_rank(), sys.argv[1]
results = {}
for case, fields in torch.load(f"{folder}/in-{rank}.pt").items():
    leaves = {k: v.clone().requires_grad_() if v is not None and v.is_floating_point() else v
              for k, v in fields.items()}
    loss = level_loss(Level(**leaves), torch.tensor(%r))
    loss.backward()
    grads = {k: v.grad for k, v in leaves.items() if v is not None and v.grad is not None}
    results[case] = {"loss": loss.detach(), **grads}
torch.save(results, f"{folder}/out-{rank}.pt")
dist.destroy_process_group()
""" % SCALE

TEXTS = {word: F.normalize(torch.randn(8, generator=torch.Generator().manual_seed(i)), dim=0)
         for i, word in enumerate(["right lung", "left lung", "nodule", "effusion"])}


def rank_level(words: list[str], rows: list[int], owners: list[int] | None, seed: int) -> dict:
    """A rank's level: visual rows (row i matches words[rows[i]]), its distinct texts and, optionally, negatives."""
    g = torch.Generator().manual_seed(100 + seed)
    level = {"visual": F.normalize(torch.randn(len(rows), 8, generator=g), dim=-1),
             "text": torch.stack([TEXTS[w] for w in words]) if words else torch.zeros(0, 8),
             "index": torch.tensor(rows, dtype=torch.long),
             "keys": torch.tensor([text_key(w) for w in words], dtype=torch.long),
             "negatives": None, "owner": None}
    if owners is not None:
        level["negatives"] = F.normalize(torch.randn(len(owners), 8, generator=g), dim=-1)
        level["owner"] = torch.tensor(owners, dtype=torch.long)
    return level


CASES = {  # "left lung" is on both ranks: one text of the global batch, not a negative of itself
    "images": [rank_level(["right lung", "left lung"], [0, 1, 1], [0, 2], 0),
               rank_level(["left lung", "nodule"], [1, 0], [1], 1)],
    "regions": [rank_level(["effusion", "left lung"], [0, 1, 0], None, 2),
                rank_level([], [], None, 3)],  # a rank whose images have no regions
}


def reference(ranks: list[dict]) -> tuple[torch.Tensor, list[dict]]:
    """One process over both ranks' rows: the global loss and its gradients, laid out per rank."""
    keys = list(dict.fromkeys(k for r in ranks for k in r["keys"].tolist()))
    by_key = {text_key(word): vector for word, vector in TEXTS.items()}
    text = torch.stack([by_key[k] for k in keys]).requires_grad_()
    visual = torch.cat([r["visual"] for r in ranks]).requires_grad_()
    index = torch.tensor([keys.index(r["keys"].tolist()[i]) for r in ranks for i in r["index"].tolist()],
                         dtype=torch.long)
    negatives = owner = None
    if ranks[0]["negatives"] is not None:
        negatives = torch.cat([r["negatives"] for r in ranks]).requires_grad_()
        starts = [0, len(ranks[0]["visual"])]
        owner = torch.cat([r["owner"] + start for r, start in zip(ranks, starts)])
    loss = info_nce(visual, text, index, torch.tensor(SCALE), negatives, owner)
    loss.backward()
    per_rank, start, neg_start = [], 0, 0
    for r in ranks:
        grads = {"visual": visual.grad[start : start + len(r["visual"])],
                 "text": {k: text.grad[keys.index(k)] for k in r["keys"].tolist()}}
        if negatives is not None:
            grads["negatives"] = negatives.grad[neg_start : neg_start + len(r["negatives"])]
            neg_start += len(r["negatives"])
        per_rank.append(grads)
        start += len(r["visual"])
    return loss.detach(), per_rank


def test_two_gloo_ranks_compute_the_global_loss_and_its_gradients(tmp_path):
    for rank in range(2):
        torch.save({case: ranks[rank] for case, ranks in CASES.items()}, tmp_path / f"in-{rank}.pt")
    script = tmp_path / "gather_worker.py"
    script.write_text(WORKER)
    torchrun = Path(sys.executable).parent / "torchrun"
    done = subprocess.run([str(torchrun), "--nproc_per_node", "2", str(script), str(tmp_path)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = [torch.load(tmp_path / f"out-{rank}.pt") for rank in range(2)]
    for case, ranks in CASES.items():
        loss, expected = reference(ranks)
        for rank in range(2):
            got = outputs[rank][case]
            torch.testing.assert_close(got["loss"], loss)
            torch.testing.assert_close(got["visual"], 2 * expected[rank]["visual"])  # both ranks' losses reach it
            if "negatives" in expected[rank]:
                torch.testing.assert_close(got["negatives"], 2 * expected[rank]["negatives"])
        # a text on both ranks takes its gradient once (at its first rank); summed per text it is the global one
        summed: dict[int, torch.Tensor] = {}
        for rank in range(2):
            for key, grad in zip(ranks[rank]["keys"].tolist(), outputs[rank][case].get("text", torch.zeros(0, 8))):
                summed[key] = summed.get(key, 0) + grad
        for key, grad in summed.items():
            wanted = next(e["text"][key] for e in expected if key in e["text"])
            torch.testing.assert_close(grad, 2 * wanted)


def test_a_single_process_level_is_left_as_it_is():
    from training.gather import gather_level

    level = Level(**CASES["images"][0])
    assert gather_level(level) is level
