"""The record schema: one module (`schemas.record`) defines every column; `schemas.labels` the finding vocabulary."""
