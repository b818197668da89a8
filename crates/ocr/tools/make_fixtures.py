#!/usr/bin/env python3
"""Draws the synthetic specimen documents that `mobileid-ocr`'s tests read.

Everything is made up: the ICAO Doc 9303 specimen holder (ERIKSSON, ANNA MARIA of
Utopia, `UTO`), drawn on a plain light background with a few printed fields, a photo
placeholder and the machine-readable zone in OCR-B at its real size (10 characters per
inch, so 2.54 mm a character; OCR-B at 10 pt).

Writes, under `crates/ocr/tests/fixtures/`:
  td3-passport.png        passport data page (TD3, 125 x 88 mm), flat scan at 12 px/mm
  td1-back.png            identity card back (TD1, 85.6 x 54 mm), flat scan at 16 px/mm
  td3-passport-photo.jpg  the data page photographed: on a table, turned 2.5 degrees,
                          uneven light, slight blur and sensor noise
  td1-back-photo.jpg      the card back photographed the same way, turned -2 degrees
  no-mrz.png              the identity card's front: printed fields and no MRZ
and, for headless Chromium's fake camera (concatenated JPEG frames), under
`crates/http/tests/browser/fixtures/`:
  td3-passport.mjpeg      one 1280x720 frame: the data page held close to the camera
  td3-valid.mjpeg         the same, of the specimen re-issued in 2024 (valid until 2034)
  selfie.mjpeg            one 640x480 frame: a plain synthetic face

Deterministic: fixed random seeds, no dates.

Usage (Pillow and NumPy in a throwaway virtualenv):
    apt-get install fonts-ocr-b fonts-dejavu-core
    python3 -m venv /tmp/ocr-venv && /tmp/ocr-venv/bin/pip install pillow numpy
    /tmp/ocr-venv/bin/python crates/ocr/tools/make_fixtures.py
"""

import io
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OCRB = os.environ.get("OCRB_FONT", "/usr/share/fonts/opentype/ocr-b/OCRB.otf")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.join(HERE, "..")
FIXTURES = os.path.join(CRATE, "tests", "fixtures")
BROWSER = os.path.join(CRATE, "..", "http", "tests", "browser", "fixtures")

# ICAO Doc 9303 specimens (Part 4, TD3 passport; Part 5, TD1 card).
TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]

PITCH_MM = 2.54  # 10 characters per inch
OCRB_PT = 10.0  # OCR-B's advance (0.723 em) is the pitch at 10 pt
LINE_PITCH_MM = 4.23  # 6 lines per inch
SUPERSAMPLE = 2  # documents are drawn this much larger, then box-filtered down

PAPER = (236, 240, 232)
INK = (28, 28, 34)
LABEL = (70, 78, 96)
TINT = (214, 226, 220)


def check_digit(field: str) -> str:
    """ICAO 9303 check digit: weights 7, 3, 1; digits as is, A-Z as 10-35, '<' as 0."""
    total = 0
    for i, c in enumerate(field):
        v = int(c) if c.isdigit() else (ord(c) - 55 if c.isalpha() else 0)
        total += v * (7, 3, 1)[i % 3]
    return str(total % 10)


def verify_specimens() -> None:
    l2 = TD3[1]
    assert check_digit(l2[0:9]) == l2[9]
    assert check_digit(l2[13:19]) == l2[19]
    assert check_digit(l2[21:27]) == l2[27]
    assert check_digit(l2[28:42]) == l2[42]
    assert check_digit(l2[0:10] + l2[13:20] + l2[21:43]) == l2[43]
    a, b, _ = TD1
    assert check_digit(a[5:14]) == a[14]
    assert check_digit(b[0:6]) == b[6]
    assert check_digit(b[8:14]) == b[14]
    assert check_digit(a[5:30] + b[0:7] + b[8:15] + b[18:29]) == b[29]
    assert [len(x) for x in TD3] == [44, 44] and [len(x) for x in TD1] == [30, 30, 30]


class Page:
    """A document drawn in millimetres on a supersampled canvas."""

    def __init__(self, width_mm: float, height_mm: float, px_per_mm: float):
        self.k = px_per_mm * SUPERSAMPLE
        self.size = (round(width_mm * px_per_mm), round(height_mm * px_per_mm))
        self.img = Image.new("RGB", (self.size[0] * SUPERSAMPLE, self.size[1] * SUPERSAMPLE), PAPER)
        self.draw = ImageDraw.Draw(self.img)
        self.width_mm, self.height_mm = width_mm, height_mm

    def px(self, mm: float) -> float:
        return mm * self.k

    def font(self, path: str, pt: float) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(path, size=self.px(pt * 25.4 / 72))

    def text(self, x_mm, baseline_mm, s, path=DEJAVU, pt=7.0, fill=INK):
        self.draw.text((self.px(x_mm), self.px(baseline_mm)), s, font=self.font(path, pt), fill=fill, anchor="ls")

    def field(self, x_mm, y_mm, label, value, value_pt=8.5):
        """A field: a small bilingual label and its value below it (y is the label's baseline)."""
        self.text(x_mm, y_mm, label, pt=5.0, fill=LABEL)
        self.text(x_mm, y_mm + 3.6, value, path=DEJAVU_BOLD, pt=value_pt)

    def rect(self, box_mm, fill=None, outline=None, width_mm=0.2):
        x0, y0, x1, y1 = (self.px(v) for v in box_mm)
        self.draw.rectangle((x0, y0, x1, y1), fill=fill, outline=outline, width=max(1, round(self.px(width_mm))))

    def guilloche(self, box_mm, seed: int):
        """Faint interlaced waves, as security printing has, kept clear of the MRZ."""
        x0, y0, x1, y1 = box_mm
        rng = np.random.RandomState(seed)
        for j in range(14):
            phase, amp, period = rng.uniform(0, 6.28), rng.uniform(1.5, 4.0), rng.uniform(18, 34)
            ymid = y0 + (y1 - y0) * (j + 0.5) / 14
            pts = [
                (self.px(x), self.px(ymid + amp * math.sin(phase + 2 * math.pi * x / period)))
                for x in np.arange(x0, x1, 0.5)
            ]
            self.draw.line(pts, fill=TINT, width=max(1, round(self.px(0.15))))

    def photo_placeholder(self, box_mm):
        """A grey portrait frame with a head-and-shoulders silhouette."""
        x0, y0, x1, y1 = box_mm
        w, h = x1 - x0, y1 - y0
        frame = Image.new("RGB", (round(self.px(w)), round(self.px(h))), (205, 208, 212))
        draw = ImageDraw.Draw(frame)  # drawn in the frame's own coordinates, so it is clipped to it
        shoulders = (0.08 * w, 0.72 * h, 0.92 * w, 1.35 * h)
        head = (0.28 * w, 0.16 * h, 0.72 * w, 0.66 * h)
        draw.pieslice(tuple(self.px(v) for v in shoulders), 180, 360, fill=(150, 154, 162))
        draw.ellipse(tuple(self.px(v) for v in head), fill=(165, 168, 176))
        self.img.paste(frame, (round(self.px(x0)), round(self.px(y0))))
        self.rect(box_mm, outline=(150, 150, 155))

    def signature(self, x_mm, y_mm, w_mm):
        pts = [
            (self.px(x_mm + t * w_mm), self.px(y_mm + 1.6 * math.sin(t * 19) * (1 - t) - 1.2 * t))
            for t in np.linspace(0, 1, 200)
        ]
        self.draw.line(pts, fill=(40, 50, 110), width=max(1, round(self.px(0.25))))

    def mrz(self, lines, left_mm, last_baseline_mm):
        """The MRZ: each character centred in its 2.54 mm cell, lines 4.23 mm apart."""
        font = self.font(OCRB, OCRB_PT)
        advance = font.getlength("0")
        for row, line in enumerate(lines):
            baseline = self.px(last_baseline_mm - (len(lines) - 1 - row) * LINE_PITCH_MM)
            for i, c in enumerate(line):
                cell_mid = self.px(left_mm + (i + 0.5) * PITCH_MM)
                self.draw.text((cell_mid - advance / 2, baseline), c, font=font, fill=INK, anchor="ls")

    def finish(self) -> Image.Image:
        return self.img.resize(self.size, Image.Resampling.BOX)


def current_td3() -> list:
    """The specimen passport, issued in 2024 and valid until 15 April 2034 (every check
    digit computed), for the flows that must not fail on an expired document."""
    number, birth, expiry, personal = "L898902C3", "740812", "340415", "ZE184226B<<<<<"
    lower = (f"{number}{check_digit(number)}UTO{birth}{check_digit(birth)}F{expiry}{check_digit(expiry)}"
             f"{personal}{check_digit(personal)}")
    lower += check_digit(lower[0:10] + lower[13:20] + lower[21:43])
    return [TD3[0], lower]


def td3_data_page(px_per_mm: float, with_mrz: bool = True, current: bool = False) -> Image.Image:
    p = Page(125.0, 88.0, px_per_mm)
    p.guilloche((2, 8, 123, 62), seed=3)
    p.text(5, 7, "UTOPIA", path=DEJAVU_BOLD, pt=11)
    p.text(40, 6, "PASSPORT / PASSEPORT", path=DEJAVU_BOLD, pt=8)
    p.field(40, 11.5, "Type / Type", "P", value_pt=7.5)
    p.field(58, 11.5, "Code / Code", "UTO", value_pt=7.5)
    p.field(84, 11.5, "Passport No. / N° de passeport", "L898902C3", value_pt=7.5)
    p.photo_placeholder((5, 13, 35, 53))
    p.field(40, 20, "Surname / Nom", "ERIKSSON")
    p.field(40, 27.5, "Given names / Prénoms", "ANNA MARIA")
    p.field(40, 35, "Nationality / Nationalité", "UTOPIAN")
    p.field(40, 42.5, "Date of birth / Date de naissance", "12 AUG/AOUT 74")
    p.field(92, 42.5, "Personal No. / N° personnel", "Z E 184226 B", value_pt=7.5)
    p.field(40, 50, "Sex / Sexe", "F")
    p.field(58, 50, "Place of birth / Lieu de naissance", "ZENITH")
    p.field(40, 57.5, "Date of issue / Date de délivrance", "16 APR/AVR 24" if current else "16 APR/AVR 07")
    p.field(84, 57.5, "Authority / Autorité", "PASSPORT OFFICE", value_pt=7.5)
    p.field(40, 65, "Date of expiry / Date d'expiration", "15 APR/AVR 34" if current else "15 APR/AVR 12")
    p.text(84, 65, "Holder's signature / Signature du titulaire", pt=5.0, fill=LABEL)
    p.signature(86, 69.5, 26)
    if with_mrz:
        p.mrz(current_td3() if current else TD3, left_mm=(125.0 - 44 * PITCH_MM) / 2, last_baseline_mm=88.0 - 6.0)
    return p.finish()


def td1_back(px_per_mm: float) -> Image.Image:
    p = Page(85.6, 54.0, px_per_mm)
    p.guilloche((2, 2, 83.6, 30), seed=5)
    p.field(4, 5, "Address / Adresse", "1 MAIN STREET, ZENITH", value_pt=6.5)
    p.field(4, 12, "Height / Taille", "168 cm", value_pt=6.5)
    p.field(24, 12, "Eyes / Yeux", "BLUE", value_pt=6.5)
    p.field(4, 19, "Authority / Autorité", "CITY OF ZENITH", value_pt=6.5)
    p.field(44, 19, "Date of issue / Date de délivrance", "16.04.2007", value_pt=6.5)
    p.rect((66, 3, 81, 22), fill=(222, 224, 226), outline=(180, 180, 186))  # ghost image window
    p.mrz(TD1, left_mm=(85.6 - 30 * PITCH_MM) / 2, last_baseline_mm=54.0 - 4.0)
    return p.finish()


def td1_front(px_per_mm: float) -> Image.Image:
    p = Page(85.6, 54.0, px_per_mm)
    p.guilloche((2, 8, 83.6, 52), seed=7)
    p.text(4, 6, "UTOPIA", path=DEJAVU_BOLD, pt=9)
    p.text(28, 6, "IDENTITY CARD / CARTE D'IDENTITÉ", path=DEJAVU_BOLD, pt=6.5)
    p.photo_placeholder((4, 10, 26, 40))
    p.field(30, 13, "Surname / Nom", "ERIKSSON", value_pt=7)
    p.field(30, 20, "Given names / Prénoms", "ANNA MARIA", value_pt=7)
    p.field(30, 27, "Sex / Sexe", "F", value_pt=7)
    p.field(44, 27, "Nationality / Nationalité", "UTO", value_pt=7)
    p.field(30, 34, "Date of birth / Date de naissance", "12.08.1974", value_pt=7)
    p.field(30, 41, "Document No. / N° du document", "D23145890", value_pt=7)
    p.field(62, 41, "Expiry / Expiration", "15.04.2012", value_pt=7)
    p.text(4, 45, "Signature / Signature", pt=5.0, fill=LABEL)
    p.signature(5, 49.5, 22)
    return p.finish()


def smooth_field(shape, rng, cells=4):
    """A smooth random surface in [0, 1] (bilinear upsampling of a coarse grid)."""
    coarse = Image.fromarray((rng.uniform(0, 1, (cells, cells)) * 255).astype(np.uint8))
    return np.asarray(coarse.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32) / 255


def photograph(doc, frame, doc_width_px, angle_deg, centre, seed, blur=0.9, noise=4.0, light=(0.72, 1.05)):
    """The document lying on a table, photographed: turned, scaled, unevenly lit, blurred and noisy."""
    rng = np.random.RandomState(seed)
    w, h = frame
    scale = doc_width_px / doc.width
    small = doc.resize((round(doc.width * scale), round(doc.height * scale)), Image.Resampling.LANCZOS)
    mask = Image.new("L", small.size, 255)
    turned = small.rotate(angle_deg, resample=Image.Resampling.BICUBIC, expand=True)
    turned_mask = mask.rotate(angle_deg, resample=Image.Resampling.BICUBIC, expand=True)
    table = np.zeros((h, w, 3), dtype=np.float32)
    grain = smooth_field((h, w), rng, cells=9)
    for c, base in enumerate((96, 84, 74)):
        table[:, :, c] = base + 18 * grain
    canvas = Image.fromarray(table.astype(np.uint8))
    x = round(centre[0] * w - turned.width / 2)
    y = round(centre[1] * h - turned.height / 2)
    canvas.paste(turned, (x, y), turned_mask)
    lo, hi = light
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gradient = lo + (hi - lo) * (0.55 * xx / w + 0.45 * (1 - yy / h))
    lighting = gradient * (0.92 + 0.08 * smooth_field((h, w), rng))
    arr = np.asarray(canvas.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32)
    arr = arr * lighting[:, :, None] + rng.normal(0, noise, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg_bytes(img, quality) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def selfie() -> Image.Image:
    """A plain synthetic face, 640x480: shapes only, nobody's likeness."""
    ss = 2
    img = Image.new("RGB", (640 * ss, 480 * ss), (180, 196, 210))
    d = ImageDraw.Draw(img)

    def e(box, fill):
        d.ellipse(tuple(v * ss for v in box), fill=fill)

    for y in range(480):  # a soft vertical gradient behind the head
        shade = int(12 * y / 480)
        d.line((0, y * ss, 640 * ss, y * ss), fill=(176 - shade, 192 - shade, 208 - shade), width=ss)
    d.pieslice(tuple(v * ss for v in (170, 360, 470, 640)), 180, 360, fill=(60, 90, 140))  # shoulders
    d.rectangle(tuple(v * ss for v in (290, 320, 350, 380)), fill=(222, 184, 158))  # neck
    e((215, 70, 425, 230), (70, 48, 36))  # hair
    e((230, 100, 410, 350), (230, 192, 166))  # face
    e((222, 190, 246, 240), (220, 180, 154))  # ears
    e((394, 190, 418, 240), (220, 180, 154))
    for cx in (282, 358):  # eyes and brows
        e((cx - 18, 200, cx + 18, 216), (250, 250, 250))
        e((cx - 7, 201, cx + 7, 215), (70, 90, 60))
        e((cx - 3, 205, cx + 3, 211), (20, 20, 20))
        d.line(((cx - 22) * ss, 188 * ss, (cx + 20) * ss, 184 * ss), fill=(80, 56, 42), width=5 * ss)
    d.line((320 * ss, 215 * ss, 312 * ss, 262 * ss, 326 * ss, 266 * ss), fill=(196, 150, 128), width=3 * ss)
    d.chord(tuple(v * ss for v in (286, 276, 354, 310)), 10, 170, fill=(176, 84, 84))  # mouth
    img = img.resize((640, 480), Image.Resampling.BOX)
    arr = np.asarray(img, dtype=np.float32) + np.random.RandomState(11).normal(0, 2.0, (480, 640, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def save_png(img, name):
    path = os.path.join(FIXTURES, name)
    img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def write(path, data: bytes):
    with open(path, "wb") as f:
        f.write(data)
    return path


def main() -> None:
    verify_specimens()
    os.makedirs(FIXTURES, exist_ok=True)
    os.makedirs(BROWSER, exist_ok=True)
    td3 = td3_data_page(12.0)
    td1 = td1_back(16.0)
    written = [
        save_png(td3, "td3-passport.png"),
        save_png(td1, "td1-back.png"),
        save_png(td1_front(16.0), "no-mrz.png"),
    ]
    td3_photo = photograph(td3_data_page(16.0), (1600, 1200), 1240, 2.5, (0.5, 0.52), seed=21)
    written.append(write(os.path.join(FIXTURES, "td3-passport-photo.jpg"), jpeg_bytes(td3_photo, 84)))
    td1_photo = photograph(td1_back(24.0), (1600, 1200), 1180, -2.0, (0.48, 0.5), seed=22)
    written.append(write(os.path.join(FIXTURES, "td1-back-photo.jpg"), jpeg_bytes(td1_photo, 84)))
    # Held close to a 720p webcam: the page spans the frame's width and its top runs out of view.
    frame = photograph(td3_data_page(16.0), (1280, 720), 1180, 1.5, (0.5, 0.43), seed=23, blur=0.7, noise=3.0)
    written.append(write(os.path.join(BROWSER, "td3-passport.mjpeg"), jpeg_bytes(frame, 88)))
    current = photograph(td3_data_page(16.0, current=True), (1280, 720), 1180, 1.5, (0.5, 0.43), seed=24, blur=0.7,
                         noise=3.0)
    written.append(write(os.path.join(BROWSER, "td3-valid.mjpeg"), jpeg_bytes(current, 88)))
    written.append(write(os.path.join(BROWSER, "selfie.mjpeg"), jpeg_bytes(selfie(), 88)))
    for path in written:
        print(f"{os.path.relpath(path)}: {os.path.getsize(path) // 1024} KB")


if __name__ == "__main__":
    main()
