"""Text tokenisation: a local Hugging Face tokenizer directory, or a BPE tokenizer trained on the corpus.

Both end up as a `transformers` fast tokenizer saved in the run folder, so evaluation and resumed runs load
exactly what training used. Nothing is downloaded: a directory is read with `local_files_only=True`.

The trained tokenizer is byte-level BPE (lower-cased, BERT's [CLS] ... [SEP] framing): it never needs
[UNK], and its trainer gives the same vocabulary on every run. The WordPiece trainer of `tokenizers` does
not (huggingface/tokenizers#1794: continuing-subword ids follow hash-map order), which would make two runs
with the same data and seed differ.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from annotators import offline

offline.apply()

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast  # noqa: E402

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_bpe(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A lower-cased byte-level BPE tokenizer learnt from `texts` (vocab_size counts the 256 bytes too)."""
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """A tokenizer saved in a local directory (a trained one, or e.g. a downloaded PubMedBERT)."""
    if not Path(path).is_dir():  # transformers would take the path for a Hub repository's name
        raise FileNotFoundError(f"no tokenizer folder at {path}")
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def prepare_tokenizer(given: str | None, vocab_size: int, save_dir: Path, corpus: Iterable[str],
                      keep: bool = False) -> None:
    """Put the run's tokenizer in `save_dir` (the copy that training, resume and eval read): `given` if set,
    else, when `keep` (a resumed run: its checkpoint was trained with it), the one already there, else one trained
    on `corpus` (a tokenizer left by a run that stopped before its first checkpoint is trained again)."""
    if given:
        load_tokenizer(given).save_pretrained(str(save_dir))
    elif not (keep and (save_dir / "tokenizer.json").exists()):
        train_bpe(corpus, vocab_size).save_pretrained(str(save_dir))


def encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask, padded to the longest text (at most `max_tokens`)."""
    out = tokenizer(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    return out["input_ids"], out["attention_mask"]
