"""The training script's gate measurements (`scripts/train/xray.py --stage gate`): what a
model's whole service path does with pictures that are not scans.  Needs no torch, so it
runs in CI: the same code measures a candidate and the model it would replace."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from offchain.settings import REPO_ROOT
from oracles.xray.model import SHIPPED_DIR


def _pictures(folder, pictures: dict[str, np.ndarray]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in pictures.items():
        Image.fromarray(arr).save(folder / name)
    return folder


def _flat_and_noise(folder):
    rng = np.random.default_rng(5)
    return _pictures(
        folder,
        {
            "flat.png": np.full((120, 160, 3), 90, np.uint8),
            "noise.jpg": rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
        },
    )


def test_photo_folders_add_every_picture_after_scikit_images(tmp_path, train_script):
    folder = _flat_and_noise(tmp_path / "corpus")
    (folder / "README.txt").write_text("not a picture")
    photos, names = train_script.read_photos([folder], lambda m: None)
    assert names[-2:] == ["corpus/flat.png", "corpus/noise.jpg"]
    assert len(photos) == len(names) and photos[-2].shape == (120, 160, 3)
    record = train_script.photo_record(names)
    assert record["folders"]["corpus"]["pictures"] == 2
    assert len(record["scikit-image"]) == len(names) - 2
    with pytest.raises(SystemExit) as info:
        train_script.read_photos([tmp_path / "missing"], lambda m: None)
    assert "--photos" in str(info.value) and "missing" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as info:  # a typo'd folder must not measure nothing
        train_script.read_photos([tmp_path / "empty"], lambda m: None)
    assert "no .png, .jpg, .jpeg pictures" in str(info.value)


def _args(tmp_path, **kw) -> argparse.Namespace:
    base = dict(
        photos=[],
        heldout_photos=[],
        seed=1,
        cache=None,
        real=None,
        no_test=False,
        work=tmp_path / "work",
        model=None,
        out=SHIPPED_DIR,
    )
    return argparse.Namespace(**(base | kw))


def test_held_out_photo_folders_are_measured_whole_and_as_crops(
    tmp_path, train_script, monkeypatch
):
    """A flat picture and noise are refused by the gate's rules, as they are and in grey;
    the crops set and the never-used seeds are drawn too (few of them here)."""
    monkeypatch.setattr(train_script, "N_FRESH", 6)
    held = _flat_and_noise(tmp_path / "held")
    args = _args(tmp_path, heldout_photos=[held])
    gates = train_script.measure_gate(SHIPPED_DIR, args, train_script.Data(args, print), print)
    whole = gates["heldout_photos_held"]["whole_as_they_are_and_grey"]
    assert (whole["n"], whole["refused"], whole["threat_verdicts"]) == (4, 4, 0)
    assert whole["threat_files"] == []
    assert gates["heldout_photos_held"]["crops"]["n"] == 6
    assert gates["fresh_generated"]["n"] == 6 and gates["calibration_nonscans"]["n"] == 400


def test_while_choosing_the_gate_measures_calibration_material_only(tmp_path, train_script):
    """--no-test: nothing held out is measured, so a rule can be applied blind."""
    held = _flat_and_noise(tmp_path / "held")
    args = _args(tmp_path, heldout_photos=[held], no_test=True)
    gates = train_script.measure_gate(SHIPPED_DIR, args, train_script.Data(args, print), print)
    assert list(gates) == ["calibration_nonscans"]


def _gate_stage(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """`scripts/train/xray.py --stage gate` as a user runs it, on the shipped model."""
    script = REPO_ROOT / "scripts" / "train" / "xray.py"
    return subprocess.run(
        [sys.executable, str(script), "--stage", "gate", "--work", str(tmp_path / "work"), *extra],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )


def test_the_gate_stage_prints_one_json_object(tmp_path):
    """The command as the model card gives it, end to end (calibration only, to be quick)."""
    corpus = _flat_and_noise(tmp_path / "corpus")
    out = _gate_stage(tmp_path, "--photos", str(corpus), "--no-test")
    assert out.returncode == 0, out.stderr
    gates = json.loads(out.stdout)
    assert gates["calibration_nonscans"]["n"] == 400
    assert gates["calibration_nonscans"]["photos"] >= 2
    assert "gate calibration_nonscans" in out.stderr


def test_gathering_photographs_keeps_large_distinct_pictures_only(tmp_path):
    """scripts/train/xray_photos.py end to end: how 2.3.0's OpenCV pictures were gathered."""
    src = tmp_path / "doc"
    rng = np.random.default_rng(9)
    big = rng.integers(0, 256, (300, 1600, 3), dtype=np.uint8)
    _pictures(src / "a", {"street.jpg": big, "thumb.jpg": big[:100, :100], "plot.png": big})
    _pictures(src / "c", {"desk.webp": big[:, ::-1]})  # WebP is a photograph's format too
    (src / "b").mkdir()
    (src / "b" / "street-copy.jpg").write_bytes((src / "a" / "street.jpg").read_bytes())
    (src / "b" / "lena.jpg").write_bytes((src / "a" / "street.jpg").read_bytes())
    (src / "b" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    script = REPO_ROOT / "scripts" / "train" / "xray_photos.py"
    out = subprocess.run(
        [sys.executable, str(script), str(src), str(tmp_path / "out"), "--max-side", "800"],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = json.loads(out.stdout)
    assert counts == {"kept": 2, "small": 1, "duplicate": 1, "left_out": 1, "unreadable": 1}
    desk, street = sorted((tmp_path / "out").iterdir())
    assert street.name.startswith("street-") and Image.open(street).size == (800, 150)
    assert desk.name.startswith("desk-") and desk.suffix == ".jpg"
    missing = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "nowhere"), str(tmp_path / "o2")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "not a folder" in missing.stderr


def test_gathering_png_cut_outs_lays_them_on_white(tmp_path):
    """xray_photos.py --png (how the tuxpaint stamps were gathered): a cut-out's transparent
    pixels become white, not the black they hold; without --png a PNG is not taken."""
    src = tmp_path / "stamps"
    src.mkdir()
    cut = np.zeros((120, 120, 4), np.uint8)  # transparent black all round ...
    cut[40:80, 40:80] = (200, 30, 30, 255)  # ... a red square in the middle
    Image.fromarray(cut, "RGBA").save(src / "apple.png")
    Image.fromarray(np.full((150, 150), 60, np.uint8), "L").save(src / "grey.png")
    script = REPO_ROOT / "scripts" / "train" / "xray_photos.py"

    def run(*flags: str, dest: str) -> dict:
        args = [sys.executable, str(script), *flags, "--min-side", "100", str(src), dest]
        return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)

    assert run(dest=str(tmp_path / "jpeg-only"))["kept"] == 0
    assert run("--png", dest=str(tmp_path / "out"))["kept"] == 2
    apple = next((tmp_path / "out").glob("apple-*.jpg"))
    pixels = np.asarray(Image.open(apple).convert("RGB"), np.int16)
    assert pixels[5, 5].min() > 245  # was transparent black: now white
    assert pixels[60, 60, 0] > 170 and pixels[60, 60, 1] < 70  # the square stays red
    grey = np.asarray(Image.open(next((tmp_path / "out").glob("grey-*.jpg"))).convert("L"))
    assert abs(int(grey.mean()) - 60) <= 2  # an opaque picture is taken as it is


def test_gathering_wallpapers_keeps_the_largest_picture_of_each(tmp_path):
    """scripts/train/xray_photos.py --wallpapers end to end: how the gate's held-out
    wallpapers are rebuilt -- a KDE package (a folder with contents/) is one wallpaper, and
    so are a loose picture's sizes (Name_WxH); the largest is kept, named after it."""
    rng = np.random.default_rng(10)

    def pic(h: int, w: int) -> np.ndarray:
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    src = tmp_path / "wallpapers"
    _pictures(
        src / "Autumn" / "contents" / "images",
        {"640x480.jpg": pic(48, 64), "1920x1080.png": pic(108, 192)},
    )
    _pictures(src / "Autumn" / "contents", {"screenshot.png": pic(20, 30)})
    _pictures(
        src / "loose",
        {"Dune.jpg": pic(50, 80), "Dune_3840x2160.jpg": pic(90, 160), "Silk.png": pic(70, 40)},
    )
    (src / "loose" / "notes.txt").write_text("not a picture")
    script = REPO_ROOT / "scripts" / "train" / "xray_photos.py"
    args = [sys.executable, str(script), "--wallpapers", "--prefix", "w-", str(src)]
    out = subprocess.run([*args, str(tmp_path / "out")], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"wallpapers": 3, "pictures": 6}
    sizes = {f.name: Image.open(f).size for f in (tmp_path / "out").iterdir()}
    assert sizes == {"w-Autumn.jpg": (192, 108), "w-Dune.jpg": (160, 90), "w-Silk.jpg": (40, 70)}
    small = subprocess.run(
        [*args, str(tmp_path / "small"), "--max-side", "100"], capture_output=True, text=True
    )
    assert small.returncode == 0 and Image.open(tmp_path / "small" / "w-Autumn.jpg").size == (
        100,
        56,
    )
    (tmp_path / "empty").mkdir()
    empty = subprocess.run(
        [sys.executable, str(script), "--wallpapers", str(tmp_path / "empty"), str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert empty.returncode != 0 and "no .jpg, .jpeg, .png pictures in it" in empty.stderr


def test_a_wrong_photo_folder_fails_before_any_work(tmp_path):
    """A typo in --photos must not cost the minutes of rendering that come first."""
    out = _gate_stage(tmp_path, "--heldout-photos", str(tmp_path / "wallpapers"))
    assert out.returncode != 0 and "wallpapers: not a folder of pictures" in out.stderr
    assert "gate calibration_nonscans" not in out.stderr
