"""`smartcustoms xray scan | synth | evaluate | info` as a user runs them."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from nodes.commands import xray as cmd
from offchain.settings import Settings


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    s = Settings(home=tmp_path / "var")
    monkeypatch.setattr(cmd, "settings", lambda: s)
    return s


def run(*args: str):
    return CliRunner().invoke(cmd.app, list(args))


def test_synth_then_scan_then_evaluate(tmp_path):
    data = tmp_path / "set"
    r = run("synth", "--n", "16", "--out", str(data), "--seed", "90210", "--size", "256", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n"] == 16
    with open(data / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and {"image", "classes", "boxes"} <= set(rows[0])
    assert Image.open(data / rows[0]["image"]).size == (256, 256)

    images = [str(data / rows[i]["image"]) for i in range(3)]
    over = tmp_path / "over"
    r = run("scan", *images, "--json", "--overlay", str(over))
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert len(lines) == 3
    for rec in lines:
        assert set(rec) >= {"image", "sha256", "threats", "verdict", "ms"}
        assert rec["verdict"] in {"threat", "uncertain", "clear"}
        for t in rec["threats"]:
            assert set(t) == {"class", "score", "threshold", "box"}
            assert t["score"] >= t["threshold"] == rec["thresholds"][t["class"]]
        assert Image.open(rec["overlay"]).format == "PNG"

    r = run("evaluate", "--data", str(data), "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["n"] == 16 and rep["errors"] == []
    assert set(rep["auc"]) == {"meat", "drugs", "firearm", "knife"}
    assert set(rep["recall_at_5pct_false_alarm"]) == set(rep["auc"])
    assert set(rep["recall_at_1pct_false_alarm"]) == set(rep["ece"]) == set(rep["auc"])
    assert all(0 <= v <= 1 for v in rep["ece"].values())
    assert rep["not_a_scan"] == []
    assert rep["review_rate"] == 0.1
    for group in rep["verdicts"].values():  # every scan judged: the three shares add up to 1
        assert set(group) == {"threat", "uncertain", "clear"}
        assert abs(sum(group.values()) - 1) < 1e-3


def test_scan_says_uncertain_and_what_to_look_at(tmp_path, monkeypatch, uncertain_scan_png):
    """`xray scan` on a scan in the review band: the verdict, the classes in the band (JSON
    and table), and with SMARTCUSTOMS_XRAY__REVIEW_RATE=0 the same scan is clear."""
    path = tmp_path / "look.png"
    path.write_bytes(uncertain_scan_png)
    r = run("scan", str(path), "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)
    assert rec["verdict"] == "uncertain" and rec["threats"] == [] and rec["review_rate"] == 0.1
    top = rec["review"][0]
    assert top["threshold"] <= top["score"] < rec["thresholds"][top["class"]]
    table = run("scan", str(path))
    assert table.exit_code == 0 and "uncertain" in table.output
    assert f"look: {top['class']} {top['score']:.2f}" in table.output
    s = Settings(home=tmp_path / "var", xray={"review_rate": 0})
    monkeypatch.setattr(cmd, "settings", lambda: s)
    rec = json.loads(run("scan", str(path), "--json").output)
    assert rec["verdict"] == "clear" and rec["review"] == [] and rec["review_rate"] is None


def test_a_model_folder_given_with_model_runs_at_the_installations_rates(
    tmp_path, monkeypatch, uncertain_scan_png
):
    """`--model DIR` (a copy of the shipped model) is run like the active model: with the
    installation's alarm and review rates, and a damaged copy is refused by name."""
    import shutil

    from oracles.xray.model import SHIPPED_DIR

    folder = tmp_path / "copy"
    shutil.copytree(SHIPPED_DIR, folder)
    path = tmp_path / "look.png"
    path.write_bytes(uncertain_scan_png)
    s = Settings(home=tmp_path / "var", xray={"alarm_rate": 0.01, "review_rate": 0.05})
    monkeypatch.setattr(cmd, "settings", lambda: s)
    rec = json.loads(run("scan", str(path), "--model", str(folder), "--json").output)
    man = json.loads((folder / "manifest.json").read_text())
    assert rec["alarm_rate"] == 0.01 and rec["thresholds"] == man["thresholds_by_rate"]["0.01"]
    assert rec["review_rate"] == 0.05
    (folder / "xray.onnx").write_bytes(b"not the model")
    r = run("info", "--model", str(folder))  # the smartcustoms app prints it as "error: ..."
    assert r.exit_code != 0 and getattr(r.exception, "code", None) == "model_hash_mismatch"


def test_scan_applies_the_installations_upload_caps(tmp_path, monkeypatch, uncertain_scan_png):
    """`[xray] max_upload_bytes / max_side` reach the CLI (ImageLimits.from_settings): a file
    over either cap is refused with its code, and the defaults take the same file."""
    path = tmp_path / "look.png"
    path.write_bytes(uncertain_scan_png)
    assert json.loads(run("scan", str(path), "--json").output)["verdict"] == "uncertain"
    for caps, code in (
        ({"max_upload_bytes": 1024}, "upload_too_large"),
        ({"max_side": 128}, "image_too_large"),
    ):
        s = Settings(home=tmp_path / "var", xray=caps)
        monkeypatch.setattr(cmd, "settings", lambda s=s: s)
        r = run("scan", str(path), "--json")
        assert r.exit_code == 1 and json.loads(r.output)["error"] == code, r.output


def test_scan_reports_bad_files_per_image_and_fails(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    r = run("scan", str(bad), "--json")
    assert r.exit_code == 1
    rec = json.loads(r.output.splitlines()[0])
    assert rec["error"] == "not_an_image" and rec["image"] == str(bad)
    missing, folder = tmp_path / "missing.png", tmp_path
    r = run("scan", str(missing), str(folder), "--json")
    assert r.exit_code == 1
    recs = [json.loads(x) for x in r.output.splitlines()]
    assert [x["error"] for x in recs] == ["unreadable_file", "unreadable_file"]
    assert recs[0]["detail"] == f"{missing} cannot be read: No such file or directory"
    assert recs[1]["detail"] == f"{folder} cannot be read: Is a directory"


def test_evaluate_labels_folders_as_told_and_reports_what_it_left_out(tmp_path):
    """`--label` names what a sub-folder holds; the folder nothing names is reported, not
    silently dropped; a label for an unknown class is refused before any image is read."""
    from oracles.xray import synth

    for sub, threats in (("class_0", {"firearm": 1}), ("class_3", {}), ("extra", {})):
        (tmp_path / sub).mkdir()
        for i in range(3):
            scan = synth.scan(4700 + len(sub), i, size=192, threats=threats, display="grey")
            Image.fromarray(scan.image).save(tmp_path / sub / f"{i}.png")
    args = ("evaluate", "--data", str(tmp_path), "--label", "class_0=firearm")
    r = run(*args, "--label", "class_3=clear", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["n"] == 6 and rep["positives"]["firearm"] == 3
    assert [(k["folder"], k["images"]) for k in rep["skipped"]] == [("extra", 3)]
    r = run(*args, "--label", "class_3=clear")
    assert r.exit_code == 0 and "left out 3 image(s) in extra/" in r.output
    for group, what in (("clean", "scans that carry nothing"), ("carrying", "scans that do")):
        v = rep["verdicts"][group]  # the table output says what the JSON says
        line = f"{what}: {v['threat']:.1%} threat, {v['uncertain']:.1%} uncertain"
        assert line in r.output, r.output
    assert set(rep["strata"]) == {"class_0", "class_3"} and "by stratum" in r.output
    for name, st in rep["strata"].items():  # one table row per stratum, as in the JSON
        cells = [name, st["n"], st["carrying"], st["threat"], st["uncertain"], st["clear"]]
        rows = [[c.strip() for c in line.split("│")[1:7]] for line in r.output.splitlines()]
        assert [str(c) for c in cells] in rows, r.output
    fails = rep["failures"]
    for kind, what in (
        ("missed", "carrying a threat, no alarm"),
        ("false_alarms", "clean, judged"),
    ):
        assert (f"{fails[f'{kind}_total']} {what}" in r.output) == (fails[f"{kind}_total"] > 0)
        for x in fails[kind][:10]:
            assert f"{x['image']} [{x['stratum']}]" in r.output
    r = run(*args, "--label", "class_3=bomb", "--json")
    assert r.exit_code != 0 and getattr(r.exception, "code", None) == "bad_request"
    assert "bomb" in r.exception.detail


def test_evaluate_needs_labels(tmp_path):
    r = run("evaluate", "--data", str(tmp_path), "--json")
    assert r.exit_code != 0
    assert "labels.csv" in str(r.exception)


def test_info_verifies_the_model():
    r = run("info", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["model_version"].startswith("xray-") and info["reference_max_diff"] < 1e-4


def test_retrain_without_torch_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    r = run("retrain", "--json")
    assert r.exit_code != 0
    assert getattr(r.exception, "code", None) == "torch_missing"
    assert "pip install '.[train]'" in r.exception.detail
