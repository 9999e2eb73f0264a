#!/usr/bin/env python3
"""Gather a folder of photographs for the X-ray scan gate to learn from (`xray.py --photos`).

    apt-get download opencv-doc && dpkg -x opencv-doc_*.deb /tmp/opencv-doc
    .venv/bin/python scripts/train/xray_photos.py /tmp/opencv-doc/usr/share/doc/opencv-doc \\
        /tmp/photos/train

Every JPEG under the source at least `--min-side` pixels a side, byte-identical copies
dropped (the first in sorted order kept), any path naming `lena` left out, each shrunk to
at most `--max-side` pixels and saved as `<name>-<8 hex of its sha1>.jpg`.  2.3.0's 445
pictures came from Debian's opencv-doc 4.6.0 this way; the model's manifest records their
number and the sha256 of their sorted names, so a rebuild can check it got the same ones.
The pictures are training material only: they are not copied into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

SUFFIXES = (".jpg", ".jpeg")
LEFT_OUT = ("lena",)


def gather(source: Path, dest: Path, min_side: int = 200, max_side: int = 1024) -> dict:
    """Copy the pictures of `source` that qualify into `dest`; returns counts of what was
    kept and why the others were not."""
    if not source.is_dir():
        raise SystemExit(f"{source}: not a folder (give the unpacked opencv-doc folder)")
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    counts = {"kept": 0, "small": 0, "duplicate": 0, "left_out": 0, "unreadable": 0}
    for root, _, files in sorted(os.walk(source)):
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() not in SUFFIXES:
                continue
            if any(word in str(path.relative_to(source)).lower() for word in LEFT_OUT):
                counts["left_out"] += 1
                continue
            data = path.read_bytes()
            try:
                with Image.open(path) as im:
                    small = min(im.size) < min_side
                    pic = None if small else im.convert("RGB")
            except (UnidentifiedImageError, OSError):
                counts["unreadable"] += 1
                continue
            if pic is None:
                counts["small"] += 1
                continue
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:
                counts["duplicate"] += 1
                continue
            seen.add(digest)
            pic.thumbnail((max_side, max_side))
            pic.save(dest / f"{path.stem[:40]}-{digest[:8]}.jpg", quality=92)
            counts["kept"] += 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="folder to search (e.g. the opencv-doc docs)")
    ap.add_argument("dest", type=Path, help="folder to write the pictures to")
    ap.add_argument("--min-side", type=int, default=200)
    ap.add_argument("--max-side", type=int, default=1024)
    args = ap.parse_args()
    print(json.dumps(gather(args.source, args.dest, args.min_side, args.max_side)))


if __name__ == "__main__":
    main()
