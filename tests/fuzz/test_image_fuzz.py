"""Property-based fuzzing of the X-ray scan loader (`oracles.xray.image.load_image`).

An upload is untrusted bytes: random bytes, and real PNG, JPEG, BMP, TIFF (8-bit RGB,
16-bit grey, CMYK), GIF and WebP files cut short, with bytes flipped, inserted or dropped,
or header fields (sizes, offsets, tags) overwritten.  Each must load as an RGB picture of
the size it declares or be refused with an `XrayError` code and sentence; nothing else may
escape (the API would answer 500).

One defect this fuzzing found: a TIFF whose second page has no dimensions made PIL raise
TypeError from `n_frames`; the loader now refuses it (test at the end).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from oracles.xray.errors import XrayError
from oracles.xray.image import MIN_SIDE, ImageLimits, load_image

from .conftest import fuzz_settings

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.*"),  # damaged TIFF tags, by design
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

RAW_EXAMPLES = 400
MUTATED_EXAMPLES = 800
LIMITS = ImageLimits(max_bytes=1 << 20, max_side=2048, max_pixels=2_000_000)


def _save(image: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def _seeds() -> dict[str, bytes]:
    rgb = Image.fromarray(
        (np.random.default_rng(16).random((40, 48, 3)) * 255).astype("uint8"), "RGB"
    )
    grey16 = Image.fromarray((np.arange(40 * 48).reshape(40, 48) * 30).astype("uint16"))
    return {
        "png": _save(rgb, "PNG"),
        "png-palette-alpha": _save(rgb.convert("P"), "PNG", transparency=0),
        "jpeg": _save(rgb, "JPEG", quality=85),
        "bmp": _save(rgb, "BMP"),
        "tiff": _save(rgb, "TIFF"),
        "tiff-16bit-grey": _save(grey16, "TIFF"),
        "tiff-cmyk": _save(rgb.convert("CMYK"), "TIFF"),
        "gif": _save(rgb.convert("P"), "GIF"),
        "webp": _save(rgb, "WEBP", quality=80),
    }


SEEDS = _seeds()


def judge(data: bytes) -> None:
    try:
        got = load_image(data, LIMITS)
    except XrayError as exc:
        assert exc.code and str(exc), exc
        return
    assert got.image.mode == "RGB" and got.image.size == (got.width, got.height)
    assert MIN_SIDE <= got.width <= LIMITS.max_side and got.height >= MIN_SIDE
    assert got.width * got.height <= LIMITS.max_pixels


@fuzz_settings(RAW_EXAMPLES)
@given(data=st.binary(max_size=4096))
def test_any_bytes_load_or_are_refused_with_a_code(data: bytes):
    judge(data)


def _mutate(seed: bytes, edits: list[tuple[float, int, bytes]]) -> bytes:
    out = bytearray(seed)
    for where, kind, payload in edits:
        i = int(where * len(out))
        if kind == 0:
            out[i : i + len(payload)] = payload  # overwrite (header fields, offsets)
        elif kind == 1:
            out[i:i] = payload
        elif kind == 2:
            del out[i : i + 1 + len(payload)]
        else:
            del out[i:]  # cut short
    return bytes(out)


FIELDS = st.one_of(
    st.binary(min_size=1, max_size=8),
    st.sampled_from(
        [
            struct.pack("<I", 0),
            struct.pack(">I", 0xFFFFFFFF),
            struct.pack("<H", 0xFFFF),
            struct.pack(">II", 60_000, 60_000),
            struct.pack("<ii", -48, 40),
            b"\x00\x00",
        ]
    ),
)


@fuzz_settings(MUTATED_EXAMPLES)
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 3), FIELDS),
        min_size=1,
        max_size=4,
    ),
)
def test_a_damaged_image_loads_or_is_refused_with_a_code(seed: str, edits):
    judge(_mutate(SEEDS[seed], edits))


# Pillow writes every WebP with the animation encoder (an ANIM chunk with a loop count), which
# the loader refuses as `animated_image`: reported with the defect below, so not a seed that
# must load.
@pytest.mark.parametrize("name", sorted(set(SEEDS) - {"webp"}))
def test_every_seed_loads(name: str):
    got = load_image(SEEDS[name], LIMITS)
    assert (got.width, got.height) == (48, 40) and got.image.mode == "RGB"


def tiff_with_an_empty_second_page() -> bytes:
    data = bytearray(SEEDS["tiff"])
    assert data[:4] == b"II*\x00"
    first = struct.unpack_from("<I", data, 4)[0]
    entries = struct.unpack_from("<H", data, first)[0]
    struct.pack_into("<I", data, first + 2 + 12 * entries, len(data))  # next page: the end
    return bytes(data + struct.pack("<HI", 0, 0))  # a page with no tags at all


def test_a_tiff_page_without_size_is_refused_not_raised():
    with pytest.raises(XrayError) as err:
        load_image(tiff_with_an_empty_second_page(), LIMITS)
    assert err.value.code == "not_an_image" and "damaged page" in str(err.value)
