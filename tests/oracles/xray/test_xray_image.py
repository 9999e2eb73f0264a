"""Every bad upload the issue names is refused with its own code, or converted correctly."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from oracles.xray.errors import XrayError
from oracles.xray.image import ImageLimits, load_image


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header(w: int, h: int) -> bytes:
    """A PNG that only declares its size (a decompression bomb is a few bytes like this)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def refused(data: bytes, code: str, limits: ImageLimits = ImageLimits()) -> XrayError:
    with pytest.raises(XrayError) as info:
        load_image(data, limits)
    assert info.value.code == code, info.value.detail
    assert info.value.detail  # a sentence for the person who sent it
    return info.value


def scan_like(w: int = 64, h: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_a_good_png_loads_as_rgb_with_its_hash():
    data = encode(scan_like())
    loaded = load_image(data)
    assert loaded.image.mode == "RGB" and loaded.image.size == (64, 48)
    assert loaded.format == "PNG" and loaded.warnings == []
    import hashlib

    assert loaded.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "data", [b"", b"hello, this is a text file\n" * 10, b"%PDF-1.7\n" + bytes(200)]
)
def test_not_an_image(data):
    refused(data, "not_an_image")


def test_truncated_file():
    data = encode(scan_like(256, 256))
    err = refused(data[: len(data) // 2], "truncated_image")
    assert "cut short" in err.detail


def test_truncated_jpeg():
    data = encode(scan_like(256, 256), "JPEG", quality=90)
    refused(data[: len(data) // 3], "truncated_image")


def test_zero_pixel_side():
    refused(png_header(0, 100), "empty_image")
    refused(png_header(100, 0), "empty_image")


def test_50000_pixel_side_declared_by_a_tiny_file():
    data = png_header(50_000, 50_000)
    assert len(data) < 200
    err = refused(data, "image_too_large")
    assert "50000" in err.detail
    refused(png_header(50_000, 20), "image_too_large")


def test_50000_pixel_side_real_image():
    data = encode(Image.new("RGB", (50_000, 16), (255, 255, 255)))
    err = refused(data, "image_too_large")
    assert "8192" in err.detail and err.http_status == 413


def test_too_many_bytes():
    refused(encode(scan_like()), "upload_too_large", ImageLimits(max_bytes=1024))


def test_16_bit_greyscale_is_scaled_not_clipped():
    ramp = np.array([[0, 257, 32768, 65535] * 8] * 32, dtype=np.uint16)
    img = Image.fromarray(ramp)  # mode I;16
    data = encode(img)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    loaded = load_image(data)
    rgb = np.asarray(loaded.image)
    assert loaded.source_mode.startswith("I;16")
    assert rgb.shape == (32, 32, 3)
    assert rgb[0, :4, 0].tolist() == [0, 1, 128, 255]  # value * 255 / 65535, rounded
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert any("16-bit" in w for w in loaded.warnings)


def test_cmyk_is_converted_to_rgb():
    cyan = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    for fmt in ("JPEG", "TIFF"):
        loaded = load_image(encode(cyan, fmt))
        r, g, b = np.asarray(loaded.image)[16, 16].tolist()
        assert loaded.source_mode == "CMYK"
        assert r < 40 and g > 200 and b > 200, (fmt, r, g, b)
        assert any("CMYK" in w for w in loaded.warnings)


def test_animated_gif_is_refused():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    err = refused(buf.getvalue(), "animated_image")
    assert "3 frames" in err.detail


def test_single_frame_gif_is_accepted():
    loaded = load_image(encode(scan_like().convert("P"), "GIF"))
    assert loaded.image.mode == "RGB" and loaded.format == "GIF"


def test_transparency_is_composited_on_white():
    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    assert np.asarray(load_image(encode(img)).image).min() == 255
