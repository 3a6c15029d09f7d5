"""The dataset card (README.md) of a published corpus: YAML header for the Hub, then what a reader needs.

The header holds the licence, the `configs` / `data_files` block that maps the Parquet files to splits, and
the features; the body holds the licence of every source, statistics, the build's provenance, how to load
it and how to cite it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from connectors import get_connector
from schemas.record import features

# Licence names as sources write them -> the Hub's licence identifiers.
HUB_LICENSES = {"cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nd-4.0",
                "cc-by-nc-nd-4.0", "odbl", "pddl", "mit", "apache-2.0", "other"}
CITATION = """@software{medregion,
  title = {MedRegion: region-level medical image-text corpora},
  note = {pipeline version PIPELINE_VERSION},
}"""


@dataclass(frozen=True)
class SplitFiles:
    name: str
    files: tuple[str, ...]  # paths inside the repository
    rows: int
    bytes: int


@dataclass(frozen=True)
class CardFacts:
    """What the card states, gathered from the manifest and the rows."""

    repo_id: str
    manifest: dict
    splits: tuple[SplitFiles, ...]
    licenses: dict[str, dict[str, int]]  # source -> licence -> rows
    modalities: dict[str, int]
    regions_by_origin: dict[str, int]
    rejects_by_reason: dict[str, int]
    row_group_bytes: int


def hub_license(name: str) -> str:
    """The Hub identifier of a licence name ("CC BY-NC-SA 4.0" -> "cc-by-nc-sa-4.0"), or "other"."""
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    return key if key in HUB_LICENSES else "other"


def render_card(facts: CardFacts) -> str:
    return "---\n" + yaml.safe_dump(_header(facts), sort_keys=False, allow_unicode=True) + "---\n\n" + _body(facts)


def _header(facts: CardFacts) -> dict:
    names = sorted({hub_license(l) for per_source in facts.licenses.values() for l in per_source})
    header: dict = {"license": names[0] if len(names) == 1 else "other"}
    if header["license"] == "other":
        header["license_name"] = "per-source"
    rows = sum(s.rows for s in facts.splits)
    header.update({
        "pretty_name": facts.repo_id.split("/")[-1],
        "task_categories": ["image-to-text", "zero-shot-image-classification", "object-detection"],
        "tags": ["medical", "radiology", "region-level", "image-text", "medregion"],
        "size_categories": [_size_category(rows)],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s.name, "path": f"data/{s.name}-*"} for s in facts.splits]}],
        "dataset_info": {
            "features": features()._to_yaml_list(),
            "splits": [{"name": s.name, "num_bytes": s.bytes, "num_examples": s.rows} for s in facts.splits],
            "download_size": sum(s.bytes for s in facts.splits),
            "dataset_size": sum(s.bytes for s in facts.splits),
        },
    })
    return header


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M"


def _table(header: tuple[str, ...], rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _body(facts: CardFacts) -> str:
    manifest = facts.manifest
    repo = facts.repo_id
    sources = manifest["sources"]
    licence_rows = [(name, ", ".join(f"{l} ({n})" for l, n in sorted(facts.licenses.get(name, {}).items())) or "-",
                     counts["inputs"], counts["rows"], counts["rejects"]) for name, counts in sorted(sources.items())]
    dedup = manifest.get("dedup") or {}
    near, templated = dedup.get("near_duplicates", {}), dedup.get("templated_reports", {})
    citations = "\n\n".join(c for c in (_source_citation(s) for s in manifest["config"]["sources"]) if c)
    return f"""# {repo.split('/')[-1]}

Region-level medical image-text pairs built with MedRegion: one row per image, with its de-identified report,
an image-level text, region boxes (normalised to [0, 1]) with the region-level text aligned to them, and the
negated statements as hard negatives. Splits are fixed per patient.

## Load it

```python
import datasets, polars as pl, pyarrow.parquet as pq
ds = datasets.load_dataset("{repo}")                      # DatasetDict: {", ".join(s.name for s in facts.splits)}
ds["{facts.splits[0].name}"][0]["image"], ds["{facts.splits[0].name}"][0]["regions"]
frame = pl.read_parquet("hf://datasets/{repo}/data/*.parquet")
table = pq.read_table("data/{facts.splits[0].files[0].split('/')[-1]}")   # a downloaded file
```

## Files

{_table(("split", "rows", "files", "bytes"), [(s.name, s.rows, len(s.files), s.bytes) for s in facts.splits])}

Parquet, row groups of about {facts.row_group_bytes / 2**20:.0f} MB; the `huggingface` features metadata is in every
file, so `image` decodes to a PIL image.

## Sources and licences

Every row carries its own `license`. Use each part under its source's terms:

{_table(("source", "licences (rows)", "inputs", "rows", "rejects"), licence_rows)}

## Statistics

{_table(("modality", "rows"), sorted(facts.modalities.items()))}

{_table(("region origin", "regions"), sorted(facts.regions_by_origin.items()))}

{_table(("rejected: stage:reason", "inputs"), sorted(facts.rejects_by_reason.items()))}

Near-duplicate images dropped (resized, re-encoded or cropped copies of another image): {near.get("rows_dropped", 0)}.
Reports shared word for word by several inputs (templated reports): {templated.get("reports", 0)}, covering
{templated.get("inputs", 0)} inputs.

## Provenance

{_table(("", "value"), [
    ("pipeline version", manifest["pipeline_version"]),
    ("schema version", manifest["schema_version"]),
    ("config sha256", manifest["config_sha256"]),
    ("inputs sha256", manifest["inputs_sha256"]),
    ("inputs / rows / rejects", f"{manifest['totals']['inputs']} / {manifest['totals']['rows']} / "
                                f"{manifest['totals']['rejects']}"),
    ("connectors", ", ".join(sorted({s["connector"] for s in manifest["config"]["sources"]}))),
])}

Rejected inputs are listed in the build's `rejects.arrow`, which names input paths and is not published.

## Citation

```bibtex
{CITATION.replace("PIPELINE_VERSION", manifest["pipeline_version"])}
```
{citations}
"""


def _source_citation(source: dict) -> str:
    """The connector's own citation (its `citation` attribute), when it states one."""
    try:
        text = getattr(get_connector(source["connector"]), "citation", "")
    except (ImportError, AttributeError, ValueError):
        return ""
    return f"Source `{source['name']}`:\n\n```bibtex\n{text.strip()}\n```" if text else ""
