"""Real greyscale material: grouping and split, greyscale folders as they come, verdicts that
do not depend on the resolution of the picture, and (when the folder is there) the
held-out figures on real GDXray crops.

CI runs on a clean clone where /work/shared may not exist: the tests that read the real
crops skip then; the others make small greyscale folders from the synthetic scanner.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from oracles.xray import dataset, metrics, real, synth
from oracles.xray.image import load_image
from oracles.xray.model import SHIPPED_DIR, XrayModel

GDXRAY = Path(os.environ.get("SMARTCUSTOMS_GDXRAY", "/work/shared/data/xray/gdxray"))


@pytest.fixture(scope="module")
def model() -> XrayModel:
    return XrayModel(SHIPPED_DIR)


def grey(seed: int, index: int, **kw) -> Image.Image:
    return Image.fromarray(synth.scan(seed, index, display="grey", **kw).image).convert("L")


def write_gdxray_like(folder: Path) -> None:
    """Two series of 10 numbered images; series A has augmented copies (prefix A, L) and
    one original listed twice under two folders, as GDXray's razor blades are."""
    rows = []
    for series, cls, obj in (("B0049", "firearm", "handgun"), ("B0078", "", "background")):
        sub = folder / obj
        sub.mkdir(parents=True)
        for n in range(1, 11):
            threats = {"firearm": 1} if cls else {}
            img = grey(len(rows), n, size=96, threats=threats)
            names = [f"{series}_{n:04d}.jpg"]
            if series == "B0078":
                names += [f"A{series}_{n:04d}.jpg", f"L{series}_{n:04d}.jpg"]
            for k, name in enumerate(names):  # copies: a little brighter each
                img.point(lambda v, k=k: min(255, v + 3 * k)).save(sub / name, quality=90)
                rows.append((f"{obj}/{name}", cls, obj))
    dup = folder / "copies"
    dup.mkdir()
    (dup / "B0049_0001.jpg").write_bytes((folder / "handgun" / "B0049_0001.jpg").read_bytes())
    rows.append(("copies/B0049_0001.jpg", "firearm", "handgun"))
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "classes", "object"])
        w.writerows(rows)


def test_split_keeps_copies_together_and_drops_duplicates(tmp_path):
    write_gdxray_like(tmp_path)
    items = real.read_real(tmp_path, synth.CLASSES)
    assert len(items) == 10 + 30  # the byte-identical copy is read once
    assert sum(im.augmented for im in items) == 20
    parts = real.split(items)
    where = {im.group: name for name, ims in parts.items() for im in ims}
    for name, ims in parts.items():
        for im in ims:
            assert where[im.group] == name  # an original and its copies share a split
    for series in ("B0049", "B0078"):
        numbers = {
            name: sorted({im.number for im in ims if im.series == series})
            for name, ims in parts.items()
        }
        assert numbers == {"train": list(range(1, 8)), "calibration": [8], "test": [9, 10]}
    summary = real.summary(parts, synth.CLASSES)
    assert summary["test"]["positives"] == {"firearm": 2}


def test_evaluate_reads_greyscale_folders_as_they_come(model, tmp_path):
    """No labels.csv: the sub-folder names say what each image holds (public sets' names)."""
    for sub, threats in (("handgun", {"firearm": 1}), ("background", {}), ("shuriken", {})):
        (tmp_path / sub).mkdir()
        for i in range(4):
            grey(4400 + len(sub), i, size=200, threats=threats).save(tmp_path / sub / f"{i}.jpg")
    rows = dataset.read_labels(tmp_path, model.classes)
    labels = {name.split("/")[0]: found for name, found in rows}
    assert labels == {"handgun": {"firearm"}, "background": set(), "shuriken": {"knife"}}
    rep = dataset.evaluate(model, tmp_path)
    assert rep["n"] == 12 and rep["errors"] == [] and rep["not_a_scan"] == []
    assert rep["positives"]["firearm"] == 4 and rep["positives"]["knife"] == 4
    assert set(rep) >= {"auc", "recall_at_1pct_false_alarm", "recall_at_5pct_false_alarm", "ece"}
    assert rep["at_threshold"]["firearm"]["threshold"] == model.thresholds["firearm"]


def test_evaluate_reports_each_stratum_and_names_every_failure(model, tmp_path):
    """Strata come from labels.csv's `object` column (else the image's folder); each is
    counted by verdict, and every threat-carrying scan without an alarm (here a carrying
    picture the gate refuses, and whatever the model misses) and every clean scan judged a
    threat is named, so a figure over the whole set cannot hide where it fails."""
    rows = [("image", "classes", "object")]
    kinds = (("gun", "firearm", {"firearm": 1}), ("bag", "", {}), ("blade", "knife", {"knife": 1}))
    for obj, classes, threats in kinds:
        for i in range(5):
            grey(4800 + len(obj), i, size=200, threats=threats).save(tmp_path / f"{obj}{i}.png")
            rows.append((f"{obj}{i}.png", classes, obj))
    Image.new("RGB", (200, 200), (0, 0, 0)).save(tmp_path / "black.png")  # refused
    rows.append(("black.png", "firearm", "gun"))
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    rep = dataset.evaluate(model, tmp_path)
    st = rep["strata"]
    assert list(st) == ["bag", "blade", "gun"]
    assert (st["gun"]["n"], st["gun"]["carrying"], st["gun"]["not_a_scan"]) == (6, 6, 1)
    assert st["bag"]["carrying"] == 0 and st["bag"]["alarmed_right"] is None
    for s in st.values():
        assert sum(s[v] for v in ("threat", "uncertain", "clear", "not_a_scan")) == s["n"]
    assert sum(s["n"] for s in st.values()) == rep["n"] == 16
    fails = rep["failures"]
    carrying_no_alarm = sum(s["carrying"] and s["n"] - s["threat"] for s in st.values())
    assert fails["missed_total"] == len(fails["missed"]) == carrying_no_alarm >= 1
    assert fails["false_alarms_total"] == st["bag"]["threat"]
    black = next(m for m in fails["missed"] if m["image"] == "black.png")
    assert black == {
        "image": "black.png",
        "stratum": "gun",
        "verdict": "not_a_scan",
        "scores": {"firearm": 0.0},
    }
    lowest = [max(m["scores"].values()) for m in fails["missed"]]
    assert lowest == sorted(lowest)
    # without an object column, the folder is the stratum
    (tmp_path / "labels.csv").write_text(
        "image,classes\n" + "".join(f"{r[0]},{r[1]}\n" for r in rows[1:])
    )
    assert list(dataset.evaluate(model, tmp_path)["strata"]) == ["."]


def test_folders_named_otherwise_are_labelled_by_the_user_and_the_rest_is_reported(model, tmp_path):
    """A public set's own folder names (class_0, a series B0049) mean nothing to the
    oracle: the user names them (`--label`), and images nothing labels are listed as left
    out with how to label them -- a figure over part of a set must say so."""
    for sub, threats in (("class_0", {"firearm": 1}), ("class_3", {}), ("B0049", {})):
        (tmp_path / sub).mkdir()
        for i in range(3):
            grey(4500 + len(sub), i, size=160, threats=threats).save(tmp_path / sub / f"{i}.png")
    grey(4600, 0, size=160).save(tmp_path / "loose.png")
    names = dataset.parse_names(["Class_0=handgun", "class_3 = clear"], model.classes)
    assert names == {"class_0": "firearm", "class_3": ""}
    rows, skipped = dataset.labelled(tmp_path, model.classes, names)
    assert {name.split("/")[0]: found for name, found in rows} == {
        "class_0": {"firearm"},
        "class_3": set(),
    }
    assert [(k["folder"], k["images"]) for k in skipped] == [(".", 1), ("B0049", 3)]
    assert "--label B0049=CLASS" in skipped[1]["detail"]
    rep = dataset.evaluate(model, tmp_path, names=names)
    assert rep["n"] == 6 and rep["positives"]["firearm"] == 3 and rep["skipped"] == skipped
    # without names nothing is labelled: the error says how to name the folders
    with pytest.raises(Exception) as info:
        dataset.labelled(tmp_path, model.classes)
    assert getattr(info.value, "code", "") == "bad_dataset" and "--label" in str(info.value)


@pytest.mark.parametrize(
    "pair, says",
    [("class_0", "FOLDER=CLASS"), ("=firearm", "FOLDER=CLASS"), ("class_0=rifle", "rifle")],
)
def test_a_bad_label_says_what_is_wrong(model, pair, says):
    with pytest.raises(Exception) as info:
        dataset.parse_names([pair], model.classes)
    assert getattr(info.value, "code", "") == "bad_request" and says in str(info.value)


def test_one_folder_labelled_two_ways_is_refused_not_silently_resolved(model):
    """Giving the same folder twice with the same class is harmless; with two classes the
    report would silently count it as the last one, so it is an error before any image."""
    same = dataset.parse_names(["class_0=firearm", "CLASS_0=handgun"], model.classes)
    assert same == {"class_0": "firearm"}
    with pytest.raises(Exception) as info:
        dataset.parse_names(["class_0=firearm", "class_0=knife"], model.classes)
    assert getattr(info.value, "code", "") == "bad_request"
    assert "already labelled firearm" in str(info.value)


def test_a_folder_without_labels_or_class_folders_says_what_to_do(model, tmp_path):
    grey(1, 0, size=128).save(tmp_path / "a.png")
    with pytest.raises(Exception) as info:
        dataset.read_labels(tmp_path, model.classes)
    assert getattr(info.value, "code", "") == "bad_dataset" and "labels.csv" in str(info.value)


MARGIN = 0.05  # scores this close to a threshold may fall either side of it
# How far resampling a bag to half or double size may move one score (2.2.0: at most 0.047
# over these 16 pictures, 2.3.0: 0.055 once, on a knife score of 0.25 far under its
# threshold), and on average (both: about 0.012).  A model that learnt image sizes moves
# scores by tenths.
SCALE_MOST, SCALE_MEAN = 0.07, 0.02


@pytest.mark.parametrize("display", ["grey", "colour"])
def test_the_same_bag_at_two_scales_gets_the_same_verdict(model, display):
    """A picture's size must not decide its class: a scan and the same scan at half and at
    double resolution get the same scores (within resampling) and, wherever no score sits
    on a threshold's edge, the same verdict and threat classes."""
    compared, moved = 0, []
    for i in range(8):
        threats = {"firearm": 1} if i % 2 == 0 else {}
        img = Image.fromarray(synth.scan(7700, i, threats=threats, display=display).image)
        base = model.detect(img)
        edge = any(abs(base.scores[c] - model.thresholds[c]) < MARGIN for c in model.classes)
        for scale in (0.5, 2.0):
            det = model.detect(img.resize((round(512 * scale),) * 2, Image.BILINEAR))
            for c in model.classes:
                moved.append(abs(det.scores[c] - base.scores[c]))
                assert moved[-1] < SCALE_MOST, (i, scale, c)
            if not edge:
                compared += 1
                assert det.verdict == base.verdict, (i, scale, det.scores, base.scores)
                assert {t["class"] for t in det.threats} == {t["class"] for t in base.threats}
    assert np.mean(moved) < SCALE_MEAN
    assert compared >= 8  # most bags are clear of the edges: the verdicts were compared


# --- the real crops, when the folder is on this machine --------------------------------------

needs_gdxray = pytest.mark.skipif(
    not (GDXRAY / "labels.csv").is_file(), reason=f"no real crops at {GDXRAY}"
)


@needs_gdxray
def test_held_out_real_crops_firearms_are_found(model):
    """The held-out 20 % (never trained on, never used for a threshold), judged as the
    service judges (gate first): the floors are a little under the model card's figures."""
    test = real.split(real.read_real(GDXRAY, model.classes))["test"]
    images = [load_image(im.path.read_bytes()).image for im in test]
    dets = [d for i in range(0, len(images), 32) for d in model.detect_many(images[i : i + 32])]
    assert [d.verdict for d in dets].count("not_a_scan") == 0
    scores = np.array([[d.scores[c] for c in model.classes] for d in dets])
    y = np.stack([im.labels for im in test])
    f = model.classes.index("firearm")
    assert int(y[:, f].sum()) == 50
    assert metrics.auc(scores[:, f], y[:, f]) >= 0.95
    assert metrics.recall_at_false_alarm(scores[:, f], y[:, f], 0.05) >= 0.8


@needs_gdxray
def test_real_crops_are_rarely_refused_as_not_a_scan(model):
    """No held-out crop (calibration split here, test split above) is refused; over all
    crops, few are.  A known gap (MODEL_CARD.md): with the scan threshold set on
    calibration scans only, 22 of the 1,600 distinct crops -- all in the training split,
    mostly views of two B0078 clutter bags, and the three copies of one B0081 razor-blade
    bag -- score under it and are refused."""
    items = real.read_real(GDXRAY, model.classes)
    held = real.split(items)["calibration"]
    images = [load_image(im.path.read_bytes()).image for im in held]
    dets = [d for i in range(0, len(images), 32) for d in model.detect_many(images[i : i + 32])]
    assert [d.verdict for d in dets].count("not_a_scan") == 0
    every = items[::4]
    images = [load_image(im.path.read_bytes()).image for im in every]
    dets = [d for i in range(0, len(images), 32) for d in model.detect_many(images[i : i + 32])]
    refused = [every[k].path.name for k, d in enumerate(dets) if d.verdict == "not_a_scan"]
    assert len(refused) <= 0.02 * len(every), refused
