"""RegionMed-CLIP: pretraining on the corpus shards.

config (YAML -> dataclasses) · data (shard reader) · augment · tokenizer · model (encoders + ROI processor) ·
loss (InfoNCE) · train (progressive stages, DDP, checkpoints) · ray_train (Ray Train) · evaluate · cli.
"""
