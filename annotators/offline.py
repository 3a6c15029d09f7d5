"""The environment that keeps third-party libraries off the network. Apply it before importing them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "false",
    "YOLO_VERBOSE": "false",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TQDM_DISABLE": "1",
}


def yolo_config_dir() -> Path:
    """A writable ultralytics settings folder holding a local font, so nothing is downloaded."""
    root = Path(os.environ.get("YOLO_CONFIG_DIR") or Path.home() / ".cache" / "medregion" / "yolo")
    font = root / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    return root


def apply() -> dict[str, str]:
    """Set the offline environment in this process and return it (for Ray's runtime_env of workers)."""
    env = dict(OFFLINE_ENV, YOLO_CONFIG_DIR=str(yolo_config_dir()))
    os.environ.update(env)
    return env
