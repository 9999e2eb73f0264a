#!/usr/bin/env python3
"""Train the X-ray threat model: two experts behind one input, calibrated, exported, recorded.

    git show 1508b20:oracles/xray/model/xray.onnx > /tmp/xray-1.0.0.onnx
    git show 050f517:oracles/xray/model/xray.onnx > /tmp/xray-2.0.0.onnx
    S=scripts/train/xray.py; R=/work/shared/data/xray/gdxray; W=/tmp/xray-work; C=/tmp/xray-cache
    P=/tmp/photos/train   # scripts/train/xray_photos.py: OpenCV's pictures (2.3.0)
    # and /tmp/photos/heldout: its --wallpapers, measured on and never trained on
    .venv/bin/python $S --stage grey --init /tmp/xray-2.0.0.onnx --real $R --photos $P \\
        --work $W --cache $C --epochs 4 --steps-per-epoch 200
    .venv/bin/python $S --stage colour --init /tmp/xray-1.0.0.onnx \\
        --teacher /tmp/xray-1.0.0.onnx --freeze 3 --per-batch 20,0,12 --photos $P \\
        --epochs 4 --steps-per-epoch 300 --work $W --cache $C
        # (2.3.0: --init 2.0.0 --freeze 9, its scan head only, 2 x 200 batches)
    .venv/bin/python $S --stage head --context --real $R --photos $P --work $W --cache $C
    .venv/bin/python $S --stage assemble --real $R --photos $P --work $W --cache $C \\
        --heldout-photos /tmp/photos/heldout                           # 2.5.0

Or start from a finished model's experts instead of training them again (`unpack`):

    mkdir -p /tmp/xray-2.2.0 && for f in xray.onnx manifest.json; do
        git show a48f6d7:oracles/xray/model/$f > /tmp/xray-2.2.0/$f; done
    .venv/bin/python $S --stage unpack --init /tmp/xray-2.2.0/xray.onnx --work $W

Needs the `train` extra (torch==2.13.0, CPU) and, for the photographs the scan gate learns
to refuse, scikit-image (its bundled sample photos); `--photos DIR` adds every picture of a
folder to them (2.3.0: the JPEGs of Debian's opencv-doc, see the model card).

The model (`oracles.xray.train.build_routed`) is two networks of the same small kind: the
*colour expert* judges dual-energy pseudo-colour scans, the *grey expert* single-energy
greyscale scans, real or synthetic; which one answers is decided by the picture's own
colour (`train.colour_weight`), inside the ONNX graph.  Each has its own class maps, scan
head and calibration.  Stages:

- `unpack`: the experts of a finished model (`--init`, default the shipped one, with its
  manifest beside it), calibration taken out again, as the work folder's `colour.pt` and
  `grey.pt`: the stages after it start from exactly that model.
- `grey`: the grey expert (from `--init`, e.g. 2.0.0, which already read grey and real
  scans): synthetic scans in grey, zoomed in and out; real GDXray crops (`--real`, split by
  `oracles.xray.real`: 70 % training, 10 % calibration, 20 % test) shown alone or put
  together into bags (`oracles.xray.augment`); pictures that are not scans, mostly in grey.
  The epoch is chosen on the calibration split (real) and calibration scans (grey).
- `colour`: the colour expert (from `--init`): with `--epochs 0` that network as it is
  (2.1.0: 2.0.0's); otherwise trained on synthetic colour scans and pictures that are not
  scans -- with `--freeze 9` only the scan head learns and the class maps stay exactly as
  they were, with less frozen `--teacher` (e.g. 1.0.0) keeps its colour maps as soft
  targets.  The epoch is chosen on the colour calibration scans.
- `head`: the grey expert's class head alone refitted on its frozen features
  (`train.refit_head`): real training crops as they are and mirrored, synthetic grey
  training scans, and as negatives the training non-scans its own scan head lets through at
  the threshold calibration gives it.  The expert before it is kept as `grey-base.pt`.
  `--hidden 64` gives the head a hidden layer beside its linear one (`train.widen_head`);
  `--context` a whole-picture term (`train.with_context`, 2.5.0).
- `assemble`: per expert, Platt scaling fitted on its calibration sets (colour; grey and
  real, each set weighted equally) and folded into its class head; export to ONNX, checked
  against torch; alert thresholds per class and false-alarm rate: the highest of the
  thresholds that keep false alarms at or under the rate on each calibration set; the scan
  gate's threshold `gate.SCAN_MARGIN` logits under the lowest scan-likeness of any calibration
  scan -- every choice on calibration material only.  Then the measurements, with
  onnxruntime and the whole gate: calibration figures, test figures (`--no-test` skips
  them while choosing), refusals of real and synthetic scans, and pictures that are not
  scans of seeds never used before (`FRESH_SEEDS`), with photographs never trained on
  (`HELDOUT_PHOTOS`, and each `--heldout-photos DIR`: crops, and every picture whole).
  Writes `manifest.json`; the model card is written by hand from it.
- `gate`: the same gate measurements of a finished model (`--model`, default the shipped
  one), printed as JSON: how a candidate is compared with the model it would replace
  (`--no-test`: calibration material only).  Needs no torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from oracles.xray import augment, gate, metrics, nonscan, real, train
from oracles.xray.image import load_image
from oracles.xray.preprocess import INPUT_SIZE, STRIDE, letterbox

REPO = Path(__file__).resolve().parents[2]
# Sample photographs bundled with scikit-image the gate trains on.  rocket, camera and
# chelsea are kept out: the tests use them (tests/oracles/xray/fixtures/photos).
TRAIN_PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "microaneurysms.png",
    "coins.png",
    "clock_motion.png",
    "page.png",
    "text.png",
    "color.png",
    "logo.png",
    "cell.png",
    "horse.png",
    "phantom.png",
)
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")
# Photographs never trained on, for measuring the gate: the two bundled with scikit-learn.
HELDOUT_PHOTOS = ("china.jpg", "flower.jpg")
# Pictures that are not scans, of seeds no training or threshold ever used: without
# photographs (as the benchmark's), and with the held-out photographs.
FRESH_SEEDS = {"fresh_generated": 31, "fresh_with_heldout_photos": 32}
N_FRESH = 500
# Crops of the photographs of each --heldout-photos folder (never trained on).
HELDOUT_FOLDER_SEED = 33


def skimage_photo_dir() -> Path | None:
    try:
        import skimage
    except ImportError:
        return None
    return Path(skimage.__file__).parent / "data"


def folder_photos(folder: Path) -> list[str]:
    """Every picture in `folder` (a photograph corpus given with --photos), sorted."""
    if not folder.is_dir():
        raise SystemExit(f"{folder}: not a folder of pictures (--photos, --heldout-photos)")
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not names:
        raise SystemExit(f"{folder}: no {', '.join(PHOTO_SUFFIXES)} pictures in it")
    return names


def read_photos(folders: list[Path], log) -> tuple[list[np.ndarray], list[str]]:
    """scikit-image's `TRAIN_PHOTOS` (when installed) and every picture of each folder in
    `folders`: more kinds of photograph teach the scan gate more of what is not a scan."""
    found: list[tuple[Path, str]] = []
    sk = skimage_photo_dir()
    if sk is not None:
        found += [(sk, n) for n in TRAIN_PHOTOS if (sk / n).is_file()]
    for folder in folders:
        found += [(folder, n) for n in folder_photos(folder)]
    if not found:
        log("no photographs (pip install scikit-image, or --photos DIR): the gate learns less")
    photos = [np.asarray(load_image((f / n).read_bytes()).image) for f, n in found]
    return photos, [n if f == sk else f"{f.name}/{n}" for f, n in found]


def photo_record(names: list[str]) -> dict:
    """The photographs trained on, for a manifest: scikit-image's by name, each folder by
    its number of pictures and the sha256 of its sorted names (hundreds of them)."""
    folders: dict[str, list[str]] = {}
    for n in names:
        if "/" in n:
            folder, _, name = n.partition("/")
            folders.setdefault(folder, []).append(name)
    return {
        "scikit-image": [n for n in names if "/" not in n],
        "folders": {
            f: {
                "pictures": len(ns),
                "names_sha256": hashlib.sha256("\n".join(sorted(ns)).encode()).hexdigest(),
            }
            for f, ns in folders.items()
        },
    }


def heldout_photos() -> tuple[list[np.ndarray], list[str]]:
    try:
        import sklearn
    except ImportError:
        return [], []
    folder = Path(sklearn.__file__).parent / "datasets" / "images"
    names = [n for n in HELDOUT_PHOTOS if (folder / n).is_file()]
    return [np.asarray(load_image((folder / n).read_bytes()).image) for n in names], names


def real_inputs(items: list[real.RealImage]) -> tuple[np.ndarray, np.ndarray]:
    """Held-out crops letterboxed exactly as at run time (no augmentation)."""
    x = np.stack([letterbox(load_image(im.path.read_bytes()).image)[0] for im in items])
    return x, np.stack([im.labels for im in items])


def figures(scores: np.ndarray, y: np.ndarray, thr: dict[str, float]) -> dict:
    out = metrics.report(scores, y, train.CLASSES, rates=(0.01, 0.05))
    at = {}
    for i, c in enumerate(train.CLASSES):
        pos, neg = y[:, i] > 0, y[:, i] == 0
        at[c] = {
            "recall": round(float((scores[pos, i] >= thr[c]).mean()), 4) if pos.any() else None,
            "false_alarm": round(float((scores[neg, i] >= thr[c]).mean()), 4)
            if neg.any()
            else None,
        }
    out["at_threshold"] = at
    return out


def fit_platt_sets(logits: list[np.ndarray], labels: list[np.ndarray]) -> list[tuple]:
    """Per class, Platt scaling over several sets, each weighing as much as the others
    (a small real set is not drowned by a large synthetic one)."""
    z = np.concatenate(logits)
    y = np.concatenate(labels)
    w = np.concatenate([np.full(len(v), len(z) / (len(logits) * len(v))) for v in logits])
    return [train.fit_platt(z[:, i], y[:, i], w) for i in range(len(train.CLASSES))]


class Data:
    """The rendered and read sets, loaded when first asked for."""

    def __init__(self, args, log) -> None:
        self.args, self.log = args, log
        self._cache: dict[str, object] = {}

    def _get(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def synth(self, which: str):
        a = self.args
        seed, n = {
            "train": (a.seed, a.n_train),
            "cal": (a.seed + 1, a.n_val),
            "test": (a.seed + 2, a.n_test),
        }[which]
        return self._get(
            f"synth-{which}",
            lambda: train.render_set(seed, n, a.workers, self.log, cache=a.cache),
        )

    def photos(self):
        return self._get("photos", lambda: read_photos(self.args.photos, self.log))

    def nonscans(self, which: str):
        a = self.args
        seed, n = {"train": (a.seed + 10, a.n_nonscan), "cal": (a.seed + 11, 400)}[which]
        return self._get(
            f"non-{which}", lambda: train.nonscan_set(seed, n, self.photos()[0], cache=a.cache)
        )

    def real_parts(self):
        if self.args.real is None:
            return None
        return self._get("real", lambda: real.split(real.read_real(self.args.real, train.CLASSES)))

    def real_set(self, which: str):
        return self._get(f"real-{which}", lambda: real_inputs(self.real_parts()[which]))

    def pool(self):
        parts = self.real_parts()
        if parts is None:
            return None
        items = parts["train"]
        return augment.RealPool(
            [real.load_grey(im, 384) for im in items],
            [im.labels for im in items],
            [im.object for im in items],
        )


def parse_per_batch(text: str) -> tuple[int, int, int]:
    """--per-batch "synthetic,real,not-a-scan": the three counts of a training batch."""
    counts = [int(v) for v in text.split(",")]
    if len(counts) != 3:
        raise SystemExit(f"--per-batch takes three counts (synthetic,real,not-a-scan): {text!r}")
    return counts[0], counts[1], counts[2]


def stage_expert(kind: str, args, data: Data, log) -> None:
    torch = train.require_torch()
    t0 = time.time()
    synth = data.synth("train")
    cal = data.synth("cal")
    per_batch = parse_per_batch(args.per_batch)
    if kind == "grey":
        pool = data.pool()
        if pool is not None:
            log(f"real: {json.dumps(real.summary(data.real_parts(), train.CLASSES))}")
        sources = train.Sources(
            synth,
            pool,
            data.nonscans("train"),
            grey_share=1.0,
            per_batch=per_batch,
            composite_share=args.composite_share,
            zoom=args.zoom,
            nonscan_grey=0.85,
        )
        val = {"synthetic_grey": (train.grey_rgb(cal[1]), cal[2])}
        if pool is not None:
            val["real"] = data.real_set("calibration")
    else:
        sources = train.Sources(
            synth, None, data.nonscans("train"), grey_share=0.0, per_batch=per_batch
        )
        val = {"synthetic": (cal[0], cal[2])}
    init = train.net_from_onnx(args.init, partial=True, expert=_expert_in(args.init, kind))
    init.train()
    log(f"{kind} expert from {args.init} (sha256 {train.sha256_file(args.init)[:16]}...)")
    teacher = None
    if args.teacher is not None:
        teacher = train.net_from_onnx(
            args.teacher, partial=True, expert=_expert_in(args.teacher, kind)
        )
        for p in teacher.parameters():
            p.requires_grad_(False)
    args.work.mkdir(parents=True, exist_ok=True)
    history: list[dict] = []

    def checkpoint(net, epoch: int, mean: float) -> None:
        history.append({"epoch": epoch, "val_mean_auc": round(mean, 5)})
        torch.save(net.state_dict(), args.work / f"{kind}-epoch{epoch}.pt")

    if args.epochs == 0:  # the expert is `--init` as it is
        net = init.eval()
        checkpoint(net, 0, train.validation_score(net, val)[0])
    else:
        net = train.train(
            sources,
            val,
            epochs=args.epochs,
            lr=args.lr,
            seed=args.seed,
            init=init,
            teacher=teacher,
            steps_per_epoch=args.steps_per_epoch,
            checkpoint=checkpoint,
            freeze=args.freeze,
            log=log,
        )
    torch.save(net.state_dict(), args.work / f"{kind}.pt")
    best = max(history, key=lambda h: (h["val_mean_auc"], h["epoch"]))
    info = {
        "kind": kind,
        "init": {"file": args.init.name, "sha256": train.sha256_file(args.init)},
        "teacher": None
        if args.teacher is None
        else {"file": args.teacher.name, "sha256": train.sha256_file(args.teacher)},
        "epochs": args.epochs,
        "steps_per_epoch": args.steps_per_epoch or len(synth[0]) // per_batch[0],
        "per_batch": list(per_batch),
        "lr": args.lr,
        "frozen_convolutions": args.freeze,
        "composite_share": sources.composite_share,
        "zoom": sources.zoom,
        "grey_share": sources.grey_share,
        "nonscan_grey": sources.nonscan_grey,
        "chosen_epoch": best["epoch"],
        "chosen_on": list(val),
        "history": history,
        "photos": photo_record(data.photos()[1]),
        "seconds": round(time.time() - t0),
        "torch": torch.__version__,
    }
    (args.work / f"{kind}.json").write_text(json.dumps(info, indent=2) + "\n")
    log(f"{kind} expert: epoch {best['epoch']} chosen, {time.time() - t0:.0f} s")


def stage_head(args, data: Data, log) -> None:
    """Refit the grey expert's class head (`train.refit_head`) on the real training crops as
    they are and mirrored and the synthetic grey training scans, against the training
    non-scans (in grey and as they are) that its own scan head lets through at the
    threshold calibration gives it.  The expert before the refit is kept as `grey-base.pt`
    and a second run starts from it again, so the stage can be repeated.  `--hidden N`
    gives the head a hidden layer of width N beside the linear one (`train.widen_head`),
    fitted on each picture's `--cells` (default 16) highest cells per class; `--context` a
    whole-picture term (`train.with_context`), fitted on every cell."""
    torch = train.require_torch()
    t0 = time.time()
    if args.context and (args.hidden or args.cells):
        raise SystemExit(
            "--context is fitted on every cell: it does not go with --hidden or --cells"
        )
    parts = data.real_parts()
    if parts is None:
        raise SystemExit("--stage head needs the real crops (--real DIR)")
    base = args.work / "grey-base.pt"
    if not base.exists():
        base.write_bytes((args.work / "grey.pt").read_bytes())
    net = _load_expert(base)
    if args.context:
        net = train.with_context(net)
    if args.hidden:
        torch.manual_seed(args.seed)
        net = train.widen_head(net, args.hidden)
    cal = data.synth("cal")
    cal_scan = np.concatenate(
        [
            train.predict_scan(net, train.grey_rgb(cal[1])),
            train.predict_scan(net, data.real_set("calibration")[0]),
        ]
    )
    threshold = gate.threshold_from_calibration(cal_scan)
    non = data.nonscans("train")
    grey_non = train.grey_of(non)
    negatives = np.concatenate(
        [
            grey_non[train.passing_nonscans(net, grey_non, threshold)],
            non[train.passing_nonscans(net, non, threshold)],
        ]
    )
    x, y = real_inputs(parts["train"])
    synth = data.synth("train")
    scans = np.concatenate([x, x[:, :, ::-1], train.grey_rgb(synth[1])])
    labels = np.concatenate([y, y, synth[2]])
    fit = (
        # as in the probe that found it (MODEL_CARD): a hidden layer needs more steps, and
        # on all 1,024 cells of every picture it would take hours
        train.HeadFit(steps=300, cells=args.cells or 16)
        if args.hidden
        else train.HeadFit(cells=args.cells)
    )
    log(
        f"grey head: {len(scans)} scans, {len(negatives)} of {2 * len(non)} training "
        f"non-scans pass its scan head at {threshold}"
    )
    losses = train.refit_head(net, scans, labels, negatives, fit)
    torch.save(net.state_dict(), args.work / "grey.pt")
    info_path = args.work / "grey.json"
    info = json.loads(info_path.read_text())
    info["head_refit"] = {
        **dataclasses.asdict(fit),
        "hidden": args.hidden,
        "context": args.context,
        "started_from": base.name,
        "scans": {
            "real_train": len(x),
            "real_train_mirrored": len(x),
            "synthetic_grey": len(synth[2]),
        },
        "negatives": len(negatives),
        "scan_threshold": threshold,
        **losses,
        "seconds": round(time.time() - t0),
    }
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    log(f"grey head refitted: {losses}, {time.time() - t0:.0f} s")


def _expert_in(path: Path, kind: str) -> str | None:
    """Which expert of `path` to start from: the same kind when the file is routed."""
    import onnx

    names = {t.name for t in onnx.load(str(path)).graph.initializer}
    return kind if any(n.startswith("net.colour.") for n in names) else None


def _load_expert(path: Path):
    """A fused expert from its saved weights, with the class head it was saved with."""
    torch = train.require_torch()
    state = torch.load(path)
    net = train.fused_net_for(state)
    net.load_state_dict(state)
    net.eval()
    return net


def stage_unpack(args, log) -> None:
    """The two experts of a finished model (`--init`, default the shipped one) with its
    calibration taken out again (from the manifest beside it), as the work folder's
    `colour.pt` and `grey.pt`, and their training records: later stages then start from
    exactly the model in service, without re-running its training."""
    torch = train.require_torch()
    src = args.init or args.out / "xray.onnx"
    if not src.is_file() or not (src.parent / "manifest.json").is_file():
        raise SystemExit(f"--init {src}: give a model's ONNX file with its manifest.json beside it")
    manifest = json.loads((src.parent / "manifest.json").read_text())
    if manifest.get("sha256") != train.sha256_file(src):
        raise SystemExit(f"{src} is not the model its manifest.json describes (sha256 differs)")
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "grey-base.pt").unlink(missing_ok=True)
    for kind in ("colour", "grey"):
        net = train.net_from_onnx(src, expert=kind)
        cal = manifest["calibration"][kind]
        a = [cal["a"][c] for c in train.CLASSES]
        b = [cal["b"][c] for c in train.CLASSES]
        # logit' = a * logit + b  ->  logit = logit' / a - b / a
        train.calibrate(net, [1 / v for v in a], [-w / v for v, w in zip(a, b, strict=True)])
        torch.save(net.state_dict(), args.work / f"{kind}.pt")
        info = {
            **manifest["training"]["experts"][kind],
            "unpacked_from": {
                "version": manifest["version"],
                "sha256": manifest["sha256"],
                "calibration_removed": cal,
            },
        }
        (args.work / f"{kind}.json").write_text(json.dumps(info, indent=2) + "\n")
        log(f"{kind} expert of {manifest['version']} -> {args.work / f'{kind}.pt'}")


def head_description(net) -> str:
    """An expert's class head in words, for the manifest."""
    parts = ["linear"]
    if train.hidden_width(net):
        parts.append(f"a hidden layer of {train.hidden_width(net)} (ReLU)")
    if train.has_context(net):
        parts.append("a whole-picture term (1 x 1 on the grid-averaged features)")
    return ", ".join(parts) + (", summed" if len(parts) > 1 else "")


@functools.lru_cache(maxsize=2)  # a candidate and the model it would replace
def _loaded(folder: Path, manifest: str):
    """The model in `folder`, loaded once per manifest text (a rewritten model reloads)."""
    from oracles.xray.model import XrayModel

    return XrayModel(folder)


def judged(folder: Path, images: list[Image.Image]) -> list:
    """Detections through the whole service path (gate rules, scan head, thresholds); the
    model in `folder` is loaded once for all the sets a gate measurement judges."""
    manifest = folder / "manifest.json"
    model = _loaded(folder, manifest.read_text() if manifest.is_file() else "")
    return [d for i in range(0, len(images), 32) for d in model.detect_many(images[i : i + 32])]


def gate_figures(dets: list) -> dict:
    return {
        "n": len(dets),
        "refused": sum(d.verdict == "not_a_scan" for d in dets),
        "threat_verdicts": sum(d.verdict == "threat" for d in dets),
        "threats": sum(len(d.threats) for d in dets),
    }


def measure_gate(folder: Path, args, data: Data, log) -> dict:
    """What the whole service path (gate rules, scan head, thresholds) of the model in
    `folder` does with pictures that are not scans and with real crops: calibration
    non-scans (drawn with the training photographs), never-used seeds with and without the
    never-trained photographs, each `--heldout-photos` folder (crops of seed
    `HELDOUT_FOLDER_SEED`, and every picture whole, as it is and in grey), and the real
    calibration (and, without `--no-test`, test) crops.  The same code measures a candidate
    and the model it would replace, so a rule can compare them on equal terms."""
    gates: dict = {
        "calibration_nonscans": {
            "seed": args.seed + 11,
            "photos": len(data.photos()[0]),
            **gate_figures(
                judged(
                    folder,
                    [nonscan.picture(args.seed + 11, i, data.photos()[0]) for i in range(400)],
                )
            ),
        }
    }
    log(f"gate calibration_nonscans: {gates['calibration_nonscans']}")
    if args.no_test:  # while choosing: calibration material only
        return gates | real_gates(folder, data, ("calibration",), log)
    fresh_photos, fresh_names = heldout_photos()
    for name, seed in FRESH_SEEDS.items():
        ph = fresh_photos if "photos" in name else []
        pics = [nonscan.picture(seed, i, ph) for i in range(N_FRESH)]
        gates[name] = {
            "seed": seed,
            "photos": fresh_names if ph else [],
            **gate_figures(judged(folder, pics)),
        }
        log(f"gate {name}: {gates[name]}")
    for where in args.heldout_photos:
        gates[f"heldout_photos_{where.name}"] = heldout_folder_gate(folder, where)
        log(f"gate held-out photos {where}: {gates[f'heldout_photos_{where.name}']}")
    return gates | real_gates(folder, data, ("calibration", "test"), log)


def heldout_folder_gate(folder: Path, where: Path) -> dict:
    """The pictures of `where` (never trained on) through the model in `folder`: as crops
    drawn like the training photographs (seed `HELDOUT_FOLDER_SEED`), and whole, as they
    are and in grey, naming those judged threats."""
    names = folder_photos(where)
    photos = [load_image((where / n).read_bytes()).image.convert("RGB") for n in names]
    arrays = [np.asarray(im) for im in photos]
    crops = [
        nonscan.photo(np.random.default_rng([HELDOUT_FOLDER_SEED, i]), arrays)
        for i in range(N_FRESH)
    ]
    dets = judged(folder, photos + [im.convert("L").convert("RGB") for im in photos])
    return {
        "folder": where.name,
        "photos": len(names),
        "crops": {"seed": HELDOUT_FOLDER_SEED, **gate_figures(judged(folder, crops))},
        "whole_as_they_are_and_grey": {
            **gate_figures(dets),
            "threat_files": [
                f"{names[k % len(names)]}{' (grey)' if k >= len(names) else ''}"
                for k, d in enumerate(dets)
                if d.verdict == "threat"
            ],
        },
    }


def real_gates(folder: Path, data: Data, splits: tuple[str, ...], log) -> dict:
    """Real crops of each split through the whole service path: none should be refused."""
    parts = data.real_parts()
    if parts is None:
        return {}
    gates = {}
    for which in splits:
        items = parts[which]
        dets = judged(folder, [load_image(im.path.read_bytes()).image for im in items])
        gates[f"real_{which}"] = {
            **gate_figures(dets),
            "refused_files": [
                items[k].path.name for k, d in enumerate(dets) if d.verdict == "not_a_scan"
            ],
        }
        log(f"gate real {which}: {gates[f'real_{which}']['refused']} refused of {len(dets)}")
    return gates


def stage_gate(args, data: Data, log) -> None:
    """Measure the gate of a finished model (`--model`, default the shipped one) on the
    same sets `assemble` measures a new one on; prints one JSON object."""
    folder = args.model or args.out
    print(json.dumps(measure_gate(folder, args, data, log), indent=2))


def stage_assemble(args, data: Data, log) -> None:
    torch = train.require_torch()
    t0 = time.time()
    rates = sorted({float(r) for r in args.alarm_rates.split(",")} | {args.default_rate})
    colour, grey = (_load_expert(args.work / f"{k}.pt") for k in ("colour", "grey"))
    info = {k: json.loads((args.work / f"{k}.json").read_text()) for k in ("colour", "grey")}
    cal = data.synth("cal")
    cal_sets = {"synthetic": (cal[0], cal[2]), "synthetic_grey": (train.grey_rgb(cal[1]), cal[2])}
    if data.real_parts() is not None:
        cal_sets["real"] = data.real_set("calibration")

    # calibration per expert, on the calibration sets it answers for
    platt = {
        "colour": fit_platt_sets([train.predict_torch(colour, cal[0], logits=True)], [cal[2]]),
        "grey": fit_platt_sets(
            [
                train.predict_torch(grey, x, logits=True)
                for k, (x, _) in cal_sets.items()
                if k != "synthetic"
            ],
            [y for k, (_, y) in cal_sets.items() if k != "synthetic"],
        ),
    }
    for name, net in (("colour", colour), ("grey", grey)):
        train.calibrate(net, [p[0] for p in platt[name]], [p[1] for p in platt[name]])
        log(f"calibration of the {name} expert (a, b) per class: {platt[name]}")
    net = train.build_routed(colour, grey)
    net.eval()

    onnx_file = args.out / "xray.onnx"
    check = np.concatenate([cal[0][:24], train.grey_rgb(cal[1][:24]), data.nonscans("cal")[:24]])
    diff = train.export_onnx(net, onnx_file, check)
    log(f"exported {onnx_file} ({onnx_file.stat().st_size / 1e6:.2f} MB), max diff {diff:.2e}")

    cal_out = {k: train.onnx_outputs(onnx_file, x) for k, (x, _) in cal_sets.items()}
    by_rate = {}
    for r in rates:
        per_set = [train.thresholds(cal_out[k][0], y, r) for k, (_, y) in cal_sets.items()]
        by_rate[f"{r:g}"] = {c: max(t[c] for t in per_set) for c in train.CLASSES}
    thr = by_rate[f"{args.default_rate:g}"]
    cal_scan = np.concatenate([s for _, s in cal_out.values()])
    scan_threshold = gate.threshold_from_calibration(cal_scan)
    cal_non_scan = train.onnx_outputs(onnx_file, data.nonscans("cal"))[1]
    log(
        f"scan head: lowest calibration scan {cal_scan.min():.4f} -> threshold "
        f"{scan_threshold}; calibration non-scans refused by the head "
        f"{(cal_non_scan < scan_threshold).mean():.3f}"
    )
    calibration_figures = {
        k: {
            **figures(cal_out[k][0], y, thr),
            "scan_min": round(float(cal_out[k][1].min()), 4),
        }
        for k, (_, y) in cal_sets.items()
    }
    for k, v in calibration_figures.items():
        log(f"calibration {k}: auc {v['auc']} r@5% {v['recall_at_5pct_false_alarm']}")
    manifest = {
        "name": "xray",
        "version": args.version,
        "file": onnx_file.name,
        "sha256": train.sha256_file(onnx_file),
        "bytes": onnx_file.stat().st_size,
        "classes": list(train.CLASSES),
        "class_notes": {
            "knife": "knives and every other bladed item (shuriken, razor blades): no "
            "separate blade class",
        },
        "input_size": INPUT_SIZE,
        "stride": STRIDE,
        "architecture": {
            "kind": "routed: a colour expert and a grey expert of the same small net",
            "routing": (
                f"colour expert weight = clip((share of pixels with max-min channel > "
                f"{train.CHROMA}) - {train.GREY_SHARE}) / "
                f"{train.COLOUR_SHARE - train.GREY_SHARE:g}, 0, 1)"
            ),
            "class_head": {
                name: head_description(e) for name, e in (("colour", colour), ("grey", grey))
            },
            "parameters": sum(p.numel() for p in net.parameters()),
        },
        "default_alarm_rate": args.default_rate,
        "thresholds": thr,
        "thresholds_by_rate": by_rate,
        "threshold_rule": (
            "per class, the highest score threshold keeping false alarms at or under the rate "
            "on each calibration set (" + ", ".join(cal_sets) + ")"
        ),
        "scan_threshold": scan_threshold,
        "scan_threshold_rule": (
            f"{gate.SCAN_MARGIN:g} logits under the lowest scan-likeness of any calibration scan "
            f"({float(cal_scan.min()):.4f}, over {len(cal_scan)} scans: "
            + ", ".join(f"{k} {len(y)}" for k, (_, y) in cal_sets.items())
            + "), rounded down; chosen before any held-out figure was measured"
        ),
        "calibration": {
            "method": "platt per expert, folded into its class head",
            **{
                name: {
                    "a": {c: round(p[0], 6) for c, p in zip(train.CLASSES, ps, strict=True)},
                    "b": {c: round(p[1], 6) for c, p in zip(train.CLASSES, ps, strict=True)},
                }
                for name, ps in platt.items()
            },
            "fitted_on": {
                "colour": {"synthetic": len(cal[2])},
                "grey": {k: len(y) for k, (_, y) in cal_sets.items() if k != "synthetic"},
            },
        },
        "reference": {
            "input": "oracles.xray.preprocess.reference_input",
            **train.reference_outputs(onnx_file),
        },
        "training": {
            "generator": "oracles.xray.synth",
            "seed": args.seed,
            "n_train": args.n_train,
            "n_calibration": args.n_val,
            "n_nonscan": args.n_nonscan,
            "photos": photo_record(data.photos()[1]),
            "real": None
            if data.real_parts() is None
            else {
                "folder": args.real.name,
                "split": "per series by image number: 70 % train, 10 % calibration, 20 % test",
                **real.summary(data.real_parts(), train.CLASSES),
            },
            "experts": info,
            "torch": torch.__version__,
            "export_max_diff": diff,
            "cpus": os.cpu_count(),
        },
        "calibration_figures": calibration_figures,
    }
    train.write_manifest(args.out, manifest)

    manifest["gate"] = measure_gate(args.out, args, data, log)
    train.write_manifest(args.out, manifest)

    if not args.no_test:
        test = data.synth("test")
        test_sets = {
            "synthetic": (test[0], test[2]),
            "synthetic_grey": (train.grey_rgb(test[1]), test[2]),
        }
        if data.real_parts() is not None:
            test_sets["real"] = data.real_set("test")
        report = {}
        for k, (x, y) in test_sets.items():
            scores, scan = train.onnx_outputs(onnx_file, x)
            report[k] = {
                **figures(scores, y, thr),
                "scan_head_refused": round(float((scan < scan_threshold).mean()), 4),
            }
            log(f"test {k}: {json.dumps(report[k])}")
        manifest["test"] = {"synthetic_seed": args.seed + 2, **report}
    manifest["training"]["assemble_seconds"] = round(time.time() - t0)
    train.write_manifest(args.out, manifest)
    log(f"done in {time.time() - t0:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--stage", choices=("unpack", "grey", "colour", "head", "assemble", "gate"), required=True
    )
    ap.add_argument("--work", type=Path, required=True, help="expert weights are kept here")
    ap.add_argument("--out", type=Path, default=REPO / "oracles" / "xray" / "model")
    ap.add_argument("--version", default="2.5.0")
    ap.add_argument("--real", type=Path, default=None, help="folder of real crops + labels.csv")
    ap.add_argument(
        "--photos",
        type=Path,
        action="append",
        default=[],
        help="a folder of photographs the scan gate learns to refuse, besides scikit-image's "
        "(repeatable)",
    )
    ap.add_argument(
        "--heldout-photos",
        type=Path,
        action="append",
        default=[],
        help="a folder of photographs never trained on, to measure the gate with (repeatable)",
    )
    ap.add_argument("--model", type=Path, default=None, help="gate stage: the model folder")
    ap.add_argument("--init", type=Path, default=None, help="start the expert from this ONNX")
    ap.add_argument("--hidden", type=int, default=0, help="head stage: hidden layer width")
    ap.add_argument("--cells", type=int, default=None, help="head stage: cells per class")
    ap.add_argument(
        "--context",
        action="store_true",
        help="head stage: the class head also sees the whole picture (its average features)",
    )
    ap.add_argument("--teacher", type=Path, default=None, help="soft targets on colour (ONNX)")
    ap.add_argument("--per-batch", default=None, help="synthetic, real, not-a-scan")
    ap.add_argument("--composite-share", type=float, default=0.5)
    ap.add_argument("--zoom", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--n-val", type=int, default=600)
    ap.add_argument("--n-test", type=int, default=1500)
    ap.add_argument("--n-nonscan", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=5, help="0: the expert is --init unchanged")
    ap.add_argument("--steps-per-epoch", type=int, default=None)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--freeze", type=int, default=3, help="first convolutions kept as they are")
    ap.add_argument("--alarm-rates", default="0.01,0.02,0.05,0.1")
    ap.add_argument("--default-rate", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None, help="keep rendered sets here (.npz)")
    ap.add_argument("--no-test", action="store_true", help="assemble without the test sets")
    args = ap.parse_args()
    if args.per_batch is None:
        args.per_batch = "10,16,6" if args.stage == "grey" else "26,0,6"
    for folder in args.photos + args.heldout_photos:
        folder_photos(folder)  # a wrong folder fails now, not after minutes of rendering
    log = train.stderr_log
    data = Data(args, log)
    if args.stage == "unpack":
        stage_unpack(args, log)
    elif args.stage == "assemble":
        stage_assemble(args, data, log)
    elif args.stage == "head":
        stage_head(args, data, log)
    elif args.stage == "gate":
        stage_gate(args, data, log)
    else:
        if args.init is None:
            raise SystemExit("--init: the ONNX model the expert starts from")
        stage_expert(args.stage, args, data, log)


if __name__ == "__main__":
    main()
