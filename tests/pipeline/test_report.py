"""The quality report of a real build renders in headless Chromium with every image, and needs no network."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.report import region_shares, write_report

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = ("Overview", "Counts", "Rejects", "Duplicates", "Distributions", "Labels", "Regions and links by source",
            "Metrics against truth.jsonl", "Gallery")
GALLERY = 6


@pytest.fixture(scope="module")
def report(sample_build, sample_root, tmp_path_factory) -> Path:
    return write_report(sample_build, tmp_path_factory.mktemp("report") / "report.html",
                        sample_root / "truth.jsonl", gallery=GALLERY)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.fail("headless Chromium is missing: `make test` installs it (apt-get install chromium)")
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_report_is_one_self_contained_page(report):
    page = report.read_text()
    assert all(f"<h2>{title}</h2>" in page for title in SECTIONS)
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(?:src|href)="(?:https?:|file:|//)', page)
    assert page.count('class="card"') == GALLERY


def test_chromium_renders_every_image(report, tmp_path):
    result = _chromium(tmp_path, "--dump-dom", report.as_uri())
    body = re.search(r"<body[^>]*>", result.stdout)
    assert body, result.stderr[-2000:]
    total = int(re.search(r'data-images-total="(\d+)"', body.group()).group(1))
    rendered = int(re.search(r'data-images-rendered="(\d+)"', body.group()).group(1))
    assert total == report.read_text().count("<img ") and total >= GALLERY + 4  # four figures and the gallery
    assert rendered == total


def test_chromium_screenshot_shows_the_page(report, tmp_path):
    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", "--hide-scrollbars",
                       report.as_uri())
    assert shot.exists(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (4000, 1280)
    assert (pixels < 128).mean() > 0.02 and pixels.std() > 20  # text, plots and radiographs, not a blank page


def test_region_and_link_shares_by_source_and_origin():
    import polars as pl

    lung = {"box": [0.1, 0.1, 0.4, 0.9], "label": "right_lung", "origin": "detector"}
    part = {"box": [0.1, 0.6, 0.4, 0.9], "label": "right_lung_lower", "origin": "derived"}
    boxed = {"box": [0.2, 0.2, 0.3, 0.3], "label": "mass", "origin": "annotation"}
    rows = pl.DataFrame([
        {"source": "a", "regions": [lung, part], "descriptions": [{"region": 1}, {"region": -1}, {"region": 0}]},
        {"source": "a", "regions": [], "descriptions": [{"region": -1}]},
        {"source": "b", "regions": [boxed], "descriptions": [{"region": 0}]},
    ])
    assert region_shares(rows) == [
        # source, images, with any / annotation / detector / derived, descriptions, linked any / by origin
        ("a", 2, 0.5, 0.0, 0.5, 0.5, 4, 0.5, 0.0, 0.25, 0.25),
        ("b", 1, 1.0, 1.0, 0.0, 0.0, 1, 1.0, 1.0, 0.0, 0.0),
    ]
