"""Reading an uploaded scan: strict checks first, then one RGB picture the model can judge.

Why strict: an upload is untrusted bytes.  Before anything is decoded the declared size is
checked (a few hundred bytes of PNG can claim 50,000 x 50,000 pixels, 7.5 GB of RGB: a
decompression bomb), and a scan that is cut short, animated or not an image at all is
refused with a code and a sentence, never judged on a guess.

What is accepted and how it is turned into 8-bit RGB:

- PNG, JPEG, TIFF, BMP, GIF (one frame), WebP; EXIF orientation is applied.
- RGB as is; RGBA / LA / palette with transparency composited on white (an empty belt).
- CMYK (print workflows, some TIFF exports) converted to RGB, with a warning.
- 16-bit greyscale (single-energy scanners, raw detector exports) scaled exactly
  (value * 255 / 65535, rounded; PIL's own conversion clips at 255 instead), 32-bit integer
  and float greyscale scaled from their own range, then grey to RGB with a note: the model
  judges single-energy greyscale too, by shape and density, but meat and drugs -- which
  the material colour of dual-energy scans shows best -- are found less reliably.
- Refused: animated GIF / APNG / WebP and multi-page TIFF (`animated_image`: send each frame
  as its own scan; judging only the first would miss what the others hold), also when the
  encoder merged identical frames into one that keeps its animation loop, a side of 0 pixels
  (`empty_image`), under MIN_SIDE (`image_too_small`), over the side or pixel cap
  (`image_too_large`), a file cut short (`truncated_image`), anything else
  (`not_an_image`, `unsupported_format`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from oracles.xray.errors import XrayError

if TYPE_CHECKING:
    from offchain.settings import XraySettings

FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP")
MIN_SIDE = 16


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 16 * 1024 * 1024
    max_side: int = 8192
    max_pixels: int = 40_000_000

    @classmethod
    def from_settings(cls, xray: XraySettings) -> ImageLimits:
        """The caps a node applies: `[xray] max_upload_bytes, max_side, max_pixels`."""
        return cls(xray.max_upload_bytes, xray.max_side, xray.max_pixels)


@dataclass
class LoadedImage:
    image: Image.Image  # RGB
    sha256: str  # of the bytes as uploaded
    format: str
    source_mode: str
    width: int
    height: int
    warnings: list[str] = field(default_factory=list)


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height a PNG, GIF or BMP header declares (to name why PIL refused it)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    return None


def _animation(img: Image.Image) -> bool:
    """Whether the file says it is an animation even with one stored frame.

    Encoders merge identical frames: an animated GIF of one flat colour is stored as a
    single frame that still carries the NETSCAPE loop extension (PIL: `info["loop"]`), and
    an animated WebP keeps its ANIM chunk.  No scanner exports those; they are refused
    like any animation rather than judged on their first frame.
    """
    return (
        "loop" in img.info
        or bool(getattr(img, "is_animated", False))
        or getattr(img, "custom_mimetype", None) == "image/apng"
    )


def _check_size(w: int, h: int, limits: ImageLimits) -> None:
    if w <= 0 or h <= 0:
        raise XrayError(
            "empty_image",
            f"the image is {w} x {h} pixels: a scan needs pixels on "
            "both sides; re-export it from the scanner",
        )
    if w < MIN_SIDE or h < MIN_SIDE:
        raise XrayError(
            "image_too_small",
            f"the image is {w} x {h} pixels, under the {MIN_SIDE}-pixel minimum side: not a scan",
        )
    if max(w, h) > limits.max_side or w * h > limits.max_pixels:
        raise XrayError(
            "image_too_large",
            f"the image is {w} x {h} pixels; at most {limits.max_side} pixels a "
            f"side and {limits.max_pixels:,} pixels are accepted (decompression-"
            "bomb guard): export the scan at a lower resolution",
        )


def load_image(data: bytes, limits: ImageLimits = ImageLimits()) -> LoadedImage:
    """Check and decode an uploaded scan; XrayError (with a code) says why not."""
    if len(data) > limits.max_bytes:
        raise XrayError(
            "upload_too_large",
            f"the file is {len(data):,} bytes, over the {limits.max_bytes:,}-byte cap",
        )
    if not data:
        raise XrayError("not_an_image", "the file is empty")
    try:
        img: Image.Image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as exc:
        raise XrayError(
            "image_too_large", f"{exc}: export the scan at a lower resolution"
        ) from None
    except UnidentifiedImageError:
        declared = _declared_size(data)
        if declared is not None and 0 in declared:
            _check_size(*declared, limits)  # PIL does not say why: a 0-pixel side
        raise XrayError(
            "not_an_image",
            "the file is not an image this oracle reads (PNG, JPEG, TIFF, BMP, GIF, WebP)",
        ) from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise XrayError("not_an_image", f"the image header is damaged ({exc})") from None
    if img.format not in FORMATS:
        raise XrayError(
            "unsupported_format",
            f"{img.format} images are not accepted; send one of {', '.join(FORMATS)}",
        )
    _check_size(*img.size, limits)
    try:
        frames = getattr(img, "n_frames", 1)  # walks every page of a TIFF
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, struct.error) as exc:
        # PIL raises TypeError for a TIFF page that carries no size: the file holds more
        # than one page (so it would be refused as several anyway) and one is damaged.
        raise XrayError(
            "not_an_image",
            f"the {img.format} file holds a damaged page after the first ({exc}); "
            "a scan is one picture: re-export it as a single page",
        ) from None
    if frames > 1 or _animation(img):
        raise XrayError(
            "animated_image",
            f"the {img.format} file is an animation or holds several pages ({frames} "
            f"frame{'s' if frames != 1 else ''}"
            + (", with an animation loop" if "loop" in img.info else "")
            + "); a scan is one picture: send each frame as its own image",
        )
    try:
        img.load()
    except OSError as exc:
        if "truncated" in str(exc) or "broken data stream" in str(exc):
            raise XrayError(
                "truncated_image",
                f"the {img.format} file is cut short ({exc}); upload the whole file again",
            ) from None
        raise XrayError(
            "not_an_image", f"the {img.format} data cannot be decoded ({exc})"
        ) from None
    except (SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise XrayError(
            "truncated_image" if isinstance(exc, EOFError) else "not_an_image",
            f"the {img.format} data cannot be decoded ({exc})",
        ) from None
    source_mode, fmt = img.mode, img.format
    with contextlib.suppress(Exception):  # a broken EXIF block is not worth refusing a scan
        img = ImageOps.exif_transpose(img)
    rgb, warnings = _to_rgb(img)
    return LoadedImage(
        rgb, hashlib.sha256(data).hexdigest(), fmt, source_mode, rgb.width, rgb.height, warnings
    )


def _to_rgb(img: Image.Image) -> tuple[Image.Image, list[str]]:
    mode = img.mode
    if mode == "RGB":
        return img, []
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), []
    if mode in ("P", "L", "1", "YCbCr", "LAB", "HSV"):
        warn = []
        if mode in ("L", "1"):
            warn.append(
                f"{mode} (greyscale) image, judged as a single-energy scan: no material "
                "colour, so meat and drugs are found less reliably than in dual-energy scans"
            )
        return img.convert("RGB"), warn
    if mode == "CMYK":
        return img.convert("RGB"), ["converted from CMYK to RGB; scanner colours may shift"]
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.min() >= 0 and arr.max() <= 65535):
            grey = arr * (255 / 65535)
            how = "16-bit greyscale scaled to 8 bits (value x 255 / 65535)"
        else:
            lo, hi = float(arr.min()), float(arr.max())
            grey = (arr - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(arr)
            how = f"{mode} greyscale stretched from its range {lo:g}..{hi:g} to 8 bits"
        g8 = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), "L")
        return g8.convert("RGB"), [
            f"{how}, judged as a single-energy scan: no material colour, so meat and drugs "
            "are found less reliably than in dual-energy scans"
        ]
    raise XrayError(
        "unsupported_format", f"image mode {mode} is not supported; export RGB, greyscale or CMYK"
    )
