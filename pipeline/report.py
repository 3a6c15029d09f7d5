"""`medregion report`: a build's quality report, one self-contained HTML page.

Counts per source, modality, split and licence; rejects by reason; near-duplicates and templated reports;
histograms of regions per image, box sizes and text lengths; label frequencies; per source, the share of images
with regions and of descriptions linked to one, by the regions' origin; alignment and ROI metrics
against a truth file when one is given (and the evaluators are installed); a gallery of sampled images with
their boxes drawn and their region texts beside them.
"""
from __future__ import annotations

import hashlib
import io
import json
import textwrap
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, ImageDraw

from pipeline import report_html as h
from pipeline.inspect import read_manifest, read_shards
from schemas.record import ORIGINS

COLUMNS = ["id", "source", "modality", "split", "license", "regions", "descriptions", "global_text"]


def write_report(folder: str | Path, output: str | Path, truth: str | Path | None = None, gallery: int = 12) -> Path:
    """Write the report of the build in `folder` to `output` (an .html file); returns its path."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(folder, truth, gallery), encoding="utf-8")
    return output


def render(folder: str | Path, truth: str | Path | None = None, gallery: int = 12) -> str:
    folder = Path(folder)
    manifest = read_manifest(folder)
    rows = read_shards(folder, COLUMNS)
    rejects = pl.read_ipc_stream(folder / manifest["rejects"]["file"])
    sections = [
        _overview(manifest),
        _counts(manifest, rows),
        _rejects(rejects),
        _duplicates(manifest.get("dedup")),
        _distributions(rows),
        _labels(rows),
        _regions_by_source(rows),
        _truth_metrics(folder, truth),
        _gallery(folder, manifest, rows, gallery),
    ]
    subtitle = (f"{folder.resolve()} · pipeline {manifest['pipeline_version']} · schema {manifest['schema_version']}"
                f" · config {manifest['config_sha256'][:12]}")
    return h.page("MedRegion quality report", subtitle, [s for s in sections if s])


def _counter(values) -> list[tuple[str, int]]:
    return sorted(Counter(str(v) for v in values).items(), key=lambda kv: (-kv[1], kv[0]))


def _bar(counts: list[tuple[str, int]], title: str, top: int = 20) -> str:
    """One horizontal bar chart, largest first, each bar with its count; its height follows the bars, so a chart
    of 3 bars and one of 20 read alike (long labels wrap, small counts stay legible as numbers)."""
    shown = counts[:top][::-1]
    labels = ["\n".join(textwrap.wrap(k, 24)) if k else "(empty)" for k, _ in shown]
    values = [v for _, v in shown]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig, ax = plt.subplots(figsize=(4.6, 0.9 + 0.24 * max(lines, len(shown), 1)))
    bars = ax.barh(labels, values, color="#4363d8")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
    ax.set_xlim(0, max(values, default=1) * 1.18)  # room for the counts
    ax.set_title(title if len(counts) <= top else f"{title} (top {top} of {len(counts)})", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return h.figure_img(fig, title)


def _bars(panels: list[tuple[str, list[tuple[str, int]]]]) -> str:
    """Each panel as its own chart, side by side where the page is wide enough."""
    return "".join(_bar(counts, title) for title, counts in panels)


def _overview(manifest: dict) -> str:
    totals = manifest["totals"]
    facts = [("inputs", totals["inputs"]), ("rows (images)", totals["rows"]), ("rejects", totals["rejects"]),
             ("shards", len(manifest["shards"])), ("inputs sha256", manifest["inputs_sha256"][:16]),
             ("config sha256", manifest["config_sha256"][:16])]
    return h.section("Overview", h.table(("", "value"), facts))


def _counts(manifest: dict, rows: pl.DataFrame) -> str:
    sources = manifest["sources"]
    panels = [(name, _counter(rows[name].to_list()) if rows.height else []) for name in
              ("modality", "split", "license")]
    by_source = h.table(("source", "inputs", "rows", "rejects"),
                        [(s, c["inputs"], c["rows"], c["rejects"]) for s, c in sorted(sources.items())])
    tables = [h.table((name, "rows"), counts) for name, counts in panels]
    source_rows = sorted(((s, c["rows"]) for s, c in sources.items()), key=lambda kv: (-kv[1], kv[0]))
    return h.section("Counts", by_source, *tables, h.plots(_bars([("source", source_rows), *panels])))


def _rejects(rejects: pl.DataFrame) -> str:
    if not rejects.height:
        return h.section("Rejects", "<p>No rejects.</p>")
    reasons = _counter(f"{s}:{r}" for s, r in zip(rejects["stage"], rejects["reason"]))
    by_source = _counter(rejects["source"].to_list())
    return h.section("Rejects", h.table(("stage:reason", "inputs"), reasons), h.table(("source", "rejects"), by_source),
                     h.plots(_bars([("rejects by reason", reasons)])))


def _duplicates(dedup: dict | None) -> str:
    if not dedup:
        return ""
    near, templated = dedup["near_duplicates"], dedup["templated_reports"]
    facts = [("near-duplicate rows dropped", near["rows_dropped"]),
             ("kept rows that had copies", near["rows_kept_with_copies"]),
             ("detail agreement that makes a copy", near["min_agreement"]),
             ("reports shared word for word", templated["reports"]),
             ("inputs with a shared report", templated["inputs"]),
             ("largest group of one report", templated["largest"])]
    return h.section("Duplicates", h.table(("", "value"), facts),
                     "<p class=\"muted\">Near-duplicates are dropped (kept: most annotated regions, then the largest "
                     "original, then the first in its source); shared reports are counted, not dropped.</p>")


def _words(texts) -> list[int]:
    return [len(t.split()) for t in texts]


def _distributions(rows: pl.DataFrame) -> str:
    if not rows.height:
        return ""
    regions = rows.select(pl.col("regions").explode()).drop_nulls()["regions"].to_list()
    box_side = [((r["box"][2] - r["box"][0]) * (r["box"][3] - r["box"][1])) ** 0.5 for r in regions]
    region_words = _words(r["text"] for r in regions if r["text"])
    panels = [
        ("regions per image", rows["regions"].list.len().to_list(), range(0, 12)),
        ("box size (sqrt of area, image = 1)", box_side, 20),
        ("global text length (words)", _words(rows["global_text"].to_list()), 20),
        ("region text length (words)", region_words, 20),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.2))
    for ax, (title, values, bins) in zip(axes, panels):
        ax.hist(values, bins=bins, color="#3cb44b")
        ax.set_title(f"{title}\nn={len(values)}", fontsize=9)
    fig.tight_layout()
    stats = [(title, len(values), (sum(values) / len(values)) if values else 0.0, max(values, default=0))
             for title, values, _ in panels]
    return h.section("Distributions", h.table(("measure", "n", "mean", "max"), stats),
                     h.plots(h.figure_img(fig, "histograms")))


def _labels(rows: pl.DataFrame) -> str:
    if not rows.height:
        return ""
    regions = rows.select(pl.col("regions").explode()).drop_nulls()["regions"].to_list()
    descriptions = rows.select(pl.col("descriptions").explode()).drop_nulls()["descriptions"].to_list()
    panels = [(f"region labels ({origin})", _counter(r["label"] for r in regions if r["origin"] == origin))
              for origin in sorted({r["origin"] for r in regions})]
    panels.append(("description labels", _counter(d["label"] for d in descriptions)))
    aligned = sum(d["region"] >= 0 for d in descriptions)
    note = (f"<p>{len(descriptions):,} region-level descriptions, {aligned:,} aligned to a box "
            f"({aligned / max(1, len(descriptions)):.0%}).</p>")
    return h.section("Labels", note, *(h.table((title, "count"), counts) for title, counts in panels),
                     h.plots(_bars(panels)))


def region_shares(rows: pl.DataFrame) -> list[tuple]:
    """Per source: images, the share with any region and with one of each origin, descriptions, the share
    linked to a region and linked to one of each origin (annotation, detector, derived)."""
    out = []
    for source in sorted(set(rows["source"].to_list())):
        picked = rows.filter(pl.col("source") == source)
        images = descriptions = 0
        with_region: Counter = Counter()
        linked: Counter = Counter()
        for regions, texts in zip(picked["regions"].to_list(), picked["descriptions"].to_list()):
            images += 1
            origins = {r["origin"] for r in regions or ()}
            with_region.update([*origins, "any"] if origins else [])
            for description in texts or ():
                descriptions += 1
                if description["region"] >= 0:
                    linked.update(["any", regions[description["region"]]["origin"]])
        out.append((source, images, *(with_region[o] / images for o in ("any", *ORIGINS)),
                    descriptions, *(linked[o] / max(1, descriptions) for o in ("any", *ORIGINS))))
    return out


def _regions_by_source(rows: pl.DataFrame) -> str:
    if not rows.height:
        return ""
    header = ("source", "images", "with regions", *(f"with {o}" for o in ORIGINS), "descriptions", "linked",
              *(f"linked to {o}" for o in ORIGINS))
    shares = [tuple(f"{v:.1%}" if isinstance(v, float) else v for v in row) for row in region_shares(rows)]
    return h.section("Regions and links by source", h.table(header, shares),
                     "<p class=\"muted\">Origins: annotation (the source's boxes), detector (proposals of the "
                     "configured detectors), derived (lung parts cut from the lung boxes to ground zone and bilateral "
                     "descriptions).</p>")


def _truth_metrics(folder: Path, truth: str | Path | None) -> str:
    if not truth:
        return ""
    parts = []
    for title, measure in (("alignment", _alignment_metrics), ("ROI", _roi_metrics)):
        try:
            metrics = measure(folder, Path(truth))
        except ModuleNotFoundError as exc:
            parts.append(f"<p class=\"muted\">{h.escape(title)} metrics: {h.escape(exc.name)} is not installed.</p>")
            continue
        parts.append(h.table((f"{title} metric", "value"), metrics.items()))
    return h.section(f"Metrics against {Path(truth).name}", *parts)


def _alignment_metrics(folder: Path, truth: Path) -> dict:
    from pipeline.evaluation.alignment import evaluate

    return evaluate(folder, truth)


def _roi_metrics(folder: Path, truth: Path) -> dict:
    """Recall at IoU 0.5 of the true boxes: by detector proposals on the studies the source leaves unannotated,
    and by all regions on every study."""
    from pipeline.evaluation.rois import record_regions, roi_recall, truth_regions

    rows = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
    records = read_shards(folder, ["source_id", "acquisition", "regions"]).to_dicts()
    detector = roi_recall(record_regions(records, "detector"), truth_regions(rows, annotated=False))
    regions = roi_recall(record_regions(records, None), truth_regions(rows, annotated=None))
    metrics = {"detector recall (unannotated studies)": detector.recall, "detector: true boxes": detector.total,
               "all regions recall (every study)": regions.recall, "all regions: true boxes": regions.total}
    metrics.update({f"detector recall, {label}": hits / total if total else 0.0
                    for label, (hits, total) in detector.by_label.items()})
    return metrics


def _gallery(folder: Path, manifest: dict, rows: pl.DataFrame, count: int) -> str:
    """`count` rows in a fixed pseudo-random order (by a hash of the id), those with regions first."""
    if not rows.height or count <= 0:
        return ""
    with_regions = rows.with_columns(pl.col("regions").list.len().alias("n"))["id", "n"].rows()
    order = sorted(with_regions, key=lambda r: (r[1] == 0, hashlib.sha256(r[0].encode()).hexdigest()))
    chosen = [row_id for row_id, _ in order[:count]]
    found = _rows_by_id(folder, manifest, set(chosen))
    return h.section("Gallery", *(_card(found[row_id]) for row_id in chosen))


def _rows_by_id(folder: Path, manifest: dict, ids: set[str]) -> dict[str, dict]:
    found = {}
    for shard in manifest["shards"]:
        with pa.memory_map(str(folder / shard["file"])) as source:
            table = pa.ipc.open_stream(source).read_all()
            picked = table.filter(pc.is_in(table.column("id"), pa.array(sorted(ids))))
            found.update({row["id"]: row for row in picked.to_pylist()})
    return found


def _card(row: dict) -> str:
    image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, max(image.size) // 200)
    items = []
    for index, region in enumerate(row["regions"]):
        colour = h.PALETTE[index % len(h.PALETTE)]
        x0, y0, x1, y1 = region["box"]
        draw.rectangle((x0 * image.width, y0 * image.height, x1 * image.width, y1 * image.height),
                       outline=colour, width=width)
        text = h.escape(region["text"]) if region["text"] else '<span class="muted">(no aligned text)</span>'
        items.append(f'<li><span class="swatch" style="background:{colour}"></span><b>{h.escape(region["label"])}'
                     f"</b> <span class=\"muted\">{h.escape(region['origin'])} {region['score']:.2f}, align "
                     f"{region['align_score']:.2f}</span><br>{text}</li>")
    image.thumbnail((384, 384))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    facts = (f"{row['source']} / {row['source_id']} · {row['modality']} {row['view']} · {row['split']} · "
             f"{row['width']}x{row['height']} (orig {row['orig_width']}x{row['orig_height']}) · {row['license']}")
    return (f'<div class="card"><img src="{h.png_data_uri(buffer.getvalue())}" alt="{h.escape(row["id"])}">'
            f'<div><p class="muted">{h.escape(facts)}</p><p><b>Global text:</b> {h.escape(row["global_text"])}</p>'
            f'<ul>{"".join(items) or "<li class=muted>no regions</li>"}</ul></div></div>')
