#!/usr/bin/env python3
"""Renders the OCR-B template atlas that `mobileid-ocr` matches glyphs against.

Writes `crates/ocr/assets/ocrb-atlas.png`: one greyscale row of 37 cells, in the order
`0-9 A-Z <`, each CELL_W x CELL_H pixels, ink dark on white.

A cell is a fixed window of the font's design space, the same for every glyph, so that
glyphs keep their true size and position within the character pitch (the recogniser
samples the photo with exactly this geometry):
  * one pixel is UNITS_PER_PX font units (the font has 1000 units per em);
  * the cell's top edge is TOP_UNITS above the baseline;
  * the cell's horizontal centre is the centre of the glyph's advance (723 units:
    OCR-B's 2.54 mm pitch at 10 pt).
These numbers are repeated in `src/glyphs.rs`; change both together.

Font: OCR-B by Matthew Skala (public domain; derived from Norbert Schwarz's METAFONT
sources, which may be used, modified and distributed without limitation), as shipped
by Debian's `fonts-ocr-b` package.

Usage (Pillow in a throwaway virtualenv):
    apt-get install fonts-ocr-b
    python3 -m venv /tmp/ocr-venv && /tmp/ocr-venv/bin/pip install pillow
    /tmp/ocr-venv/bin/python crates/ocr/tools/make_atlas.py
"""

import os
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = os.environ.get("OCRB_FONT", "/usr/share/fonts/opentype/ocr-b/OCRB.otf")
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
UNITS_PER_EM = 1000
UNITS_PER_PX = 36
TOP_UNITS = 804
ADVANCE_UNITS = 723
CELL_W = 20
CELL_H = 24
# Rendered this many times larger, then box-filtered down: a pixel holds its ink coverage.
SUPERSAMPLE = 9

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "assets", "ocrb-atlas.png")


def render(ch: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    scale = SUPERSAMPLE / UNITS_PER_PX  # supersampled pixels per font unit
    w, h = CELL_W * SUPERSAMPLE, CELL_H * SUPERSAMPLE
    big = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(big)
    # Put the advance's centre on the cell's centre and the baseline TOP_UNITS below the top.
    origin_x = w / 2 - ADVANCE_UNITS * scale / 2
    baseline_y = TOP_UNITS * scale
    draw.text((origin_x, baseline_y), ch, font=font, fill=0, anchor="ls")
    return big.resize((CELL_W, CELL_H), Image.Resampling.BOX)


def main() -> None:
    font = ImageFont.truetype(FONT, size=UNITS_PER_EM * SUPERSAMPLE / UNITS_PER_PX)
    advance = font.getlength("0") * UNITS_PER_PX / SUPERSAMPLE
    if abs(advance - ADVANCE_UNITS) > 1:
        sys.exit(f"{FONT}: advance {advance:.1f} units, expected {ADVANCE_UNITS}: not the OCR-B font?")
    atlas = Image.new("L", (CELL_W * len(ALPHABET), CELL_H), 255)
    for i, ch in enumerate(ALPHABET):
        atlas.paste(render(ch, font), (i * CELL_W, 0))
    atlas.save(OUT, optimize=True)
    print(f"wrote {os.path.relpath(OUT)} ({atlas.width}x{atlas.height})")


if __name__ == "__main__":
    main()
