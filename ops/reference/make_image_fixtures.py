#!/usr/bin/env python3
"""Makes the image-decoder fixtures under Tests/Fixtures/images/.

PNG: one small file per colour type and bit depth the format allows (gray 1/2/4/8/16,
gray+alpha 8/16, palette 1/2/4/8 with and without tRNS, RGB 8/16 with and without tRNS,
RGBA 8/16, gray with tRNS), plus Adam7-interlaced variants. Pillow cannot write most of these,
so this script writes them with its own small encoder (`write_png`, zlib from the standard
library); the expected pixels come from Pillow's decoder and are checked against the samples
the script encoded, so the two agree before anything is written.

JPEG: baseline and progressive files written by Pillow (4:2:0, 4:2:2, 4:4:4, grayscale,
optimised Huffman tables, restart intervals); the expected pixels are Pillow's decode.

Expected pixels are 8-bit RGB in `<name>.rgb` (height x width x 3 bytes), converted as the
Swift decoder documents: alpha and tRNS dropped (not composited), 16-bit samples keep their
high byte, low bit-depth gray is scaled by bit replication, palettes are looked up.
`expected.json` lists every file with its size, the channels the Swift decoder keeps
(`ImageDecoder.decode`) and, for JPEG, the largest difference allowed per sample.

`bad/` holds files that must be refused: truncated and corrupt PNG and JPEG, a CMYK JPEG, a
GIF, an empty file.

`Tests/Fixtures/images-score/` holds a NudeNet fixture image as a progressive JPEG and as a
palette PNG, each with an RGB PNG of its pixels, for the `chaperone score` tests.

Only Pillow and NumPy (pinned in requirements.txt) are needed:
    .venv/bin/python ops/reference/make_image_fixtures.py
"""
from __future__ import annotations

import io
import shutil
import struct
import zlib

import numpy as np
from PIL import Image

from common import fixture_dir, relative, write_json

WIDTH, HEIGHT = 13, 11          # odd sizes: partial bytes per row, every Adam7 pass non-trivial
JPEG_WIDTH, JPEG_HEIGHT = 37, 21  # not a multiple of the 16x16 MCU
rng = np.random.default_rng(21)

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def pack_row(samples: np.ndarray, depth: int) -> bytes:
    """Packs one row of samples (already flattened over channels) at `depth` bits."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    out = bytearray()
    for start in range(0, len(samples), per_byte):
        byte = 0
        group = samples[start:start + per_byte]
        for i, value in enumerate(group):
            byte |= int(value) << (8 - depth * (i + 1))
        out.append(byte)
    return bytes(out)


def write_png(samples: np.ndarray, color_type: int, depth: int, interlaced: bool,
              palette: np.ndarray | None = None, trns: bytes | None = None) -> bytes:
    """A PNG of `samples` (height x width x channels, values below 2**depth), filter None on
    even rows and Sub/Up/Average/Paeth cycling on odd ones (the decoder must undo all five)."""
    height, width, channels = samples.shape
    bpp = max(1, channels * depth // 8)

    def filtered(rows: list[bytes]) -> bytes:
        out = bytearray()
        previous = bytes(len(rows[0])) if rows else b""
        for y, row in enumerate(rows):
            kind = 0 if y % 2 == 0 else 1 + (y // 2) % 4
            line = bytearray()
            for i, value in enumerate(row):
                left = row[i - bpp] if i >= bpp else 0
                up = previous[i]
                up_left = previous[i - bpp] if i >= bpp else 0
                if kind == 0:
                    predictor = 0
                elif kind == 1:
                    predictor = left
                elif kind == 2:
                    predictor = up
                elif kind == 3:
                    predictor = (left + up) // 2
                else:
                    p = left + up - up_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                    predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line.append((value - predictor) & 0xFF)
            out.append(kind)
            out += line
            previous = row
        return bytes(out)

    raw = b""
    if interlaced:
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += filtered([pack_row(r.reshape(-1), depth) for r in sub])
    else:
        raw = filtered([pack_row(r.reshape(-1), depth) for r in samples])
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlaced else 0))
    if palette is not None:
        out += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"tEXt", b"Comment\x00chaperone decoder fixture")   # an ancillary chunk to skip
    compressed = zlib.compress(raw, 9)
    half = len(compressed) // 2                                        # two IDAT chunks
    out += chunk(b"IDAT", compressed[:half]) + chunk(b"IDAT", compressed[half:])
    out += chunk(b"IEND", b"")
    return out


def scale_to_8(values: np.ndarray, depth: int) -> np.ndarray:
    """The documented conversion of one sample to 8 bits."""
    if depth == 16:
        return (values >> 8).astype(np.uint8)
    return (values * (255 // (2 ** depth - 1))).astype(np.uint8)


def pillow_rgb(data: bytes) -> tuple[np.ndarray, str]:
    """Pillow's decode as 8-bit RGB (16-bit gray, which Pillow keeps at full depth, by `>> 8`)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode in ("I;16", "I;16B", "I"):
        gray = (np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), image.mode
    return np.asarray(image.convert("RGB"), dtype=np.uint8), image.mode


def png_cases():
    """(name, color type, depth, samples, palette, tRNS, expected RGB, stored channels)."""
    gy, gx = np.mgrid[0:HEIGHT, 0:WIDTH]
    for depth in (1, 2, 4, 8, 16):
        top = 2 ** depth - 1
        gray = ((gx * 7 + gy * 5 + rng.integers(0, 3, gx.shape)) * top // (WIDTH * 7 + HEIGHT * 5)).clip(0, top)
        gray = gray.astype(np.uint32)[:, :, None]
        rgb = np.repeat(scale_to_8(gray, depth), 3, axis=2)
        yield f"gray{depth}", 0, depth, gray, None, None, rgb, 1
        if depth in (8, 16):
            alpha = rng.integers(0, top + 1, gray.shape, dtype=np.uint32)
            yield f"gray-alpha{depth}", 4, depth, np.concatenate([gray, alpha], axis=2), None, None, rgb, 2
            colour = rng.integers(0, top + 1, (HEIGHT, WIDTH, 3), dtype=np.uint32)
            colour[:, :, 0] = gx * top // WIDTH                       # a ramp in red, noise elsewhere
            yield f"rgb{depth}", 2, depth, colour, None, None, scale_to_8(colour, depth), 3
            alpha = rng.integers(0, top + 1, (HEIGHT, WIDTH, 1), dtype=np.uint32)
            alpha[0, 0, 0] = 0
            yield f"rgba{depth}", 6, depth, np.concatenate([colour, alpha], axis=2), None, None, scale_to_8(colour, depth), 4
        if depth <= 8:
            entries = 2 ** depth
            palette = rng.integers(0, 256, (entries, 3))
            indices = rng.integers(0, entries, (HEIGHT, WIDTH, 1), dtype=np.uint32)
            expected = palette[indices[:, :, 0]].astype(np.uint8)
            yield f"palette{depth}", 3, depth, indices, palette, None, expected, 3
            if depth in (2, 8):
                trns = bytes(rng.integers(0, 256, entries - 1).astype(np.uint8))   # shorter than the palette, as allowed
                yield f"palette{depth}-trns", 3, depth, indices, palette, trns, expected, 4
    gray = rng.integers(0, 256, (HEIGHT, WIDTH, 1), dtype=np.uint32)
    yield "gray8-trns", 0, 8, gray, None, struct.pack(">H", int(gray[0, 0, 0])), np.repeat(gray.astype(np.uint8), 3, axis=2), 2
    colour = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint32)
    yield "rgb8-trns", 2, 8, colour, None, struct.pack(">HHH", *[int(v) for v in colour[0, 0]]), colour.astype(np.uint8), 4


def main() -> None:
    out = fixture_dir("images")
    shutil.rmtree(out)
    out.mkdir(parents=True)
    bad = out / "bad"
    bad.mkdir()
    manifest = {}

    interlaced_variants = {"gray1", "gray4", "gray16", "gray-alpha16", "palette2", "palette8-trns", "rgb8", "rgba16", "rgb16"}
    for name, color_type, depth, samples, palette, trns, expected, channels in png_cases():
        for interlaced in (False, True) if name in interlaced_variants else (False,):
            file = f"{name}{'-interlaced' if interlaced else ''}.png"
            data = write_png(samples, color_type, depth, interlaced, palette, trns)
            decoded, mode = pillow_rgb(data)
            assert decoded.shape == (HEIGHT, WIDTH, 3), (file, decoded.shape)
            assert np.array_equal(decoded, expected), f"{file}: Pillow ({mode}) disagrees with the encoded samples"
            (out / file).write_bytes(data)
            (out / file.replace(".png", ".rgb")).write_bytes(expected.tobytes())
            manifest[file] = {"width": WIDTH, "height": HEIGHT, "channels": channels, "tolerance": 0,
                              "png_color_type": color_type, "bit_depth": depth, "interlaced": interlaced}

    gy, gx = np.mgrid[0:JPEG_HEIGHT, 0:JPEG_WIDTH]
    scene = np.stack([gx * 255 // JPEG_WIDTH, gy * 255 // JPEG_HEIGHT, (gx * gy) % 256], axis=2)
    scene = (scene + rng.integers(-20, 21, scene.shape)).clip(0, 255).astype(np.uint8)
    scene[5:12, 8:20] = (250, 30, 40)                                   # a hard edge for ringing
    jpegs = {
        "baseline-420": ("RGB", dict(quality=90, subsampling=2)),
        "baseline-422": ("RGB", dict(quality=85, subsampling=1)),
        "baseline-444": ("RGB", dict(quality=95, subsampling=0)),
        "baseline-gray": ("L", dict(quality=90)),
        "baseline-optimized-restart": ("RGB", dict(quality=80, subsampling=2, optimize=True, restart_marker_blocks=2)),
        "progressive-420": ("RGB", dict(quality=90, subsampling=2, progressive=True)),
        "progressive-444": ("RGB", dict(quality=75, subsampling=0, progressive=True, optimize=True)),
        "progressive-gray": ("L", dict(quality=90, progressive=True)),
    }
    for name, (mode, options) in jpegs.items():
        buffer = io.BytesIO()
        Image.fromarray(scene).convert(mode).save(buffer, "JPEG", **options)
        data = buffer.getvalue()
        decoded, _ = pillow_rgb(data)
        file = f"{name}.jpg"
        (out / file).write_bytes(data)
        (out / f"{name}.rgb").write_bytes(decoded.tobytes())
        # Pillow bundles a newer libjpeg-turbo than Debian's; both use the accurate integer IDCT
        # and fancy upsampling, so decodes are expected to agree exactly.
        manifest[file] = {"width": JPEG_WIDTH, "height": JPEG_HEIGHT, "channels": 3, "tolerance": 0,
                          "progressive": "progressive" in name, "gray": mode == "L"}

    good_png = (out / "rgb8.png").read_bytes()
    good_jpeg = (out / "baseline-420.jpg").read_bytes()
    idat = good_png.index(b"IDAT")
    (bad / "truncated.png").write_bytes(good_png[:idat + 40])
    idat_length = struct.unpack(">I", good_png[idat - 4:idat])[0]
    corrupt = bytearray(good_png)
    corrupt[idat + 4 + idat_length] ^= 0xFF                             # the first IDAT's stored CRC
    (bad / "bad-crc.png").write_bytes(bytes(corrupt))
    corrupt = bytearray(good_png)
    corrupt[idat + 10] ^= 0xFF                                          # compressed data, CRC fixed up
    crc = zlib.crc32(bytes(corrupt[idat:idat + 4 + idat_length]))
    corrupt[idat + 4 + idat_length:idat + 8 + idat_length] = struct.pack(">I", crc)
    (bad / "corrupt-data.png").write_bytes(bytes(corrupt))
    (bad / "no-iend.png").write_bytes(good_png[:-12])
    (bad / "bad-signature.png").write_bytes(b"\x89PNG\r\n\x1a\x0b" + good_png[8:])
    scan = good_jpeg.index(b"\xff\xda")
    (bad / "truncated.jpg").write_bytes(good_jpeg[:scan + (len(good_jpeg) - scan) // 2])   # cut inside the scan
    corrupt = bytearray(good_jpeg)
    for i in range(scan + 40, len(corrupt) - 2, 7):                    # garbage entropy-coded data
        corrupt[i] = 0xFF if corrupt[i + 1] not in (0x00,) else corrupt[i]
    (bad / "corrupt-scan.jpg").write_bytes(bytes(corrupt))
    buffer = io.BytesIO()
    Image.fromarray(scene).convert("CMYK").save(buffer, "JPEG", quality=90)
    (bad / "cmyk.jpg").write_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(scene).save(buffer, "GIF")
    (bad / "image.gif").write_bytes(buffer.getvalue())
    (bad / "empty.png").write_bytes(b"")
    for file in sorted(p.name for p in bad.iterdir()):
        try:
            Image.open(bad / file).convert("RGB").tobytes()
            pillow = "decodes"
        except Exception as error:  # noqa: BLE001 - recording Pillow's verdict only
            pillow = type(error).__name__
        manifest[f"bad/{file}"] = {"pillow": pillow}

    write_json(out / "expected.json", manifest)

    # For `chaperone score`: a NudeNet fixture image as JPEG and as a palette PNG, each beside an
    # RGB PNG of the pixels Pillow decodes from it (scoring either file must give equal scores).
    score = out.parent / "images-score"
    shutil.rmtree(score, ignore_errors=True)
    score.mkdir()
    source = Image.open(out.parent / "nudenet" / "images" / "gradient_radial.png").convert("RGB")
    source.save(score / "radial.jpg", "JPEG", quality=92, subsampling=2, progressive=True)
    source.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(score / "radial-palette.png")
    for name in ("radial.jpg", "radial-palette.png"):
        with Image.open(score / name) as image:
            image.convert("RGB").save(score / (name.replace(".", "-") + "-pixels.png"))
    print(f"wrote the score fixtures to {relative(score)}")
    print(f"wrote {len(manifest)} files to {relative(out)}")


if __name__ == "__main__":
    main()
