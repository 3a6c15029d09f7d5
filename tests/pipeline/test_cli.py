"""The command line on damaged or unusual inputs: one `error:` line and exit 2, never a traceback; paths shown as
they are, whatever brackets they hold."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app


def _run(*args: str):
    outcome = CliRunner().invoke(app, list(args))
    assert isinstance(outcome.exception, (SystemExit, type(None))), outcome.exception  # no traceback
    return outcome


def _says(outcome, text: str) -> bool:
    """`text` is in the output, however the console wrapped its lines."""
    return "".join(text.split()) in "".join(outcome.output.split())


def test_a_damaged_build_is_one_error_line(sample_build, tmp_path):
    broken = Path(shutil.copytree(sample_build, tmp_path / "build"))
    (broken / "manifest.json").write_text('{"shards": [')
    for command in ("inspect", "report"):
        outcome = _run(command, str(broken))
        assert outcome.exit_code == 2 and outcome.output.startswith("error: JSONDecodeError"), outcome.output
    for damaged in ("[]", "{}"):  # JSON, but no manifest a build writes
        (broken / "manifest.json").write_text(damaged)
        for command in ("inspect", "report"):
            outcome = _run(command, str(broken))
            assert outcome.exit_code == 2 and _says(outcome, "manifest.json is damaged"), outcome.output
    (broken / "manifest.json").write_text((sample_build / "manifest.json").read_text())
    (broken / "rejects.arrow").unlink()
    outcome = _run("inspect", str(broken))
    assert outcome.exit_code == 2 and _says(outcome, f"error: FileNotFoundError: [Errno 2] No such file or directory: "
                                                     f"'{broken / 'rejects.arrow'}'"), outcome.output


def test_paths_with_brackets_are_shown_as_they_are(sample_build, tmp_path):
    folder = Path(shutil.copytree(sample_build, tmp_path / "run [/x] [v2]"))
    (folder / "shards" / "notes.txt").write_text("stray")
    outcome = _run("verify", str(folder))
    assert outcome.exit_code == 1 and _says(outcome, f"{folder}/shards/notes.txt: in shards/ but not in the manifest")


def test_publish_of_the_current_folder_and_of_a_build_without_rows(sample_build, ray_cluster, tmp_path, monkeypatch):
    here = Path(shutil.copytree(sample_build, tmp_path / "corpus"))
    monkeypatch.chdir(here)
    outcome = _run("publish", ".", "--repo-id", "a/b", "--dry-run")
    assert outcome.exit_code == 0 and (tmp_path / "corpus-hub" / "README.md").is_file(), outcome.output
    source = tmp_path / "notes"
    source.mkdir()
    for name in ("a.png", "b.png"):
        (source / name).write_text("not an image")
    (source / "index.jsonl").write_text("".join(json.dumps({"image": n, "text": "Left pleural effusion, small."}) + "\n"
                                                for n in ("a.png", "b.png")))
    (tmp_path / "notes.yaml").write_text(
        f"output: {tmp_path / 'empty'}\nsources:\n  - {{name: notes, connector: folder, detector: false, "
        f"options: {{root: {source}, index: index.jsonl}}}}\n")
    monkeypatch.setenv("MEDREGION_DEID_KEY", "cli-test-secret-key")
    built = _run("build", str(tmp_path / "notes.yaml"))
    assert built.exit_code == 0 and _says(built, "shards: none: every input was rejected"), built.output
    outcome = _run("publish", str(tmp_path / "empty"), "--repo-id", "a/b", "--dry-run")
    assert outcome.exit_code == 2 and _says(outcome, "holds no rows (all 2 inputs were rejected)"), outcome.output


def test_a_long_config_error_is_one_line(tmp_path):
    """However long the message, the console does not wrap it: a log keeps the whole of it on its `error:` line."""
    config = tmp_path / "c.yaml"
    config.write_text("sources: [{name: a, connector: sample}]\nbogus_key: 1\n")
    outcome = _run("build", str(config))
    lines = outcome.output.strip().splitlines()
    assert outcome.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: config: unknown key(s) "
                                                                              "['bogus_key']; known keys are"), lines
