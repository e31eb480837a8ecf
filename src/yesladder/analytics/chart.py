"""A funnel chart of a ladder report, as SVG text or PNG bytes.

One pure `layout()` places every bar, swatch and line of text; the SVG and PNG backends only
translate that layout into elements or Pillow draw calls, so the two pictures cannot drift apart.
Labels and titles may come from visitors: text is cleaned of control characters here and escaped
by the SVG backend, and nothing from the input ever reaches an attribute except through quoteattr.
"""

from __future__ import annotations

import io
import math
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw, ImageFont

# --- the input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    reached: int
    from_previous: float | None
    benchmark: tuple[float, float] | None
    verdict: str  # "below", "within", "above", "small" or ""


@dataclass(frozen=True)
class FunnelChart:
    title: str
    bars: tuple[Bar, ...]
    subtitle: str = ""


# --- the layout -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    fill: str
    radius: float = 0
    tooltip: str = ""  # the untruncated label; only SVG can show it (as a hover title)


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline, which both SVG and Pillow ("ls"/"ms"/"rs") can anchor to
    text: str
    size: int
    fill: str
    anchor: str = "start"  # "start", "middle" or "end", as in SVG's text-anchor
    bold: bool = False


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    title: str
    background: str
    swatches: tuple[Box, ...]
    bars: tuple[Box, ...]  # one per step, in ladder order
    texts: tuple[Text, ...]


WIDTH = 1200
MARGIN = 24
LABEL_COLUMN = 330
FUNNEL_COLUMN = 440
GAP = 20
STATS_X = MARGIN + LABEL_COLUMN + GAP + FUNNEL_COLUMN + GAP
STATS_COLUMN = WIDTH - MARGIN - STATS_X
ROW = 46
BAR_HEIGHT = 34
MIN_BAR = 2.0  # a step nobody reached still shows as a sliver, so the row does not look missing
HEADER = 118

INK = "#1f2933"
MUTED = "#52606d"
BACKGROUND = "#ffffff"
COLOURS = {
    "below": "#e0573a",
    "within": "#2f9e5b",
    "above": "#2f6fdf",
    "small": "#a0a7b0",
    "": "#6c7a91",
}
LEGEND = (
    ("below", "below benchmark"),
    ("within", "within benchmark"),
    ("above", "above benchmark"),
    ("small", "too few people to say"),
    ("", "no benchmark"),
)
VERDICT_WORDS = {"below": "below", "within": "within", "above": "above", "small": "too few"}


def layout(chart: FunnelChart) -> Layout:
    title = _fit(clean(chart.title), 26, WIDTH - 2 * MARGIN)
    texts = [Text(MARGIN, 44, title, 26, INK, bold=True)]
    if subtitle := _fit(clean(chart.subtitle), 15, WIDTH - 2 * MARGIN):
        texts.append(Text(MARGIN, 70, subtitle, 15, MUTED))
    swatches, legend_texts = _legend(y=98)
    texts += legend_texts
    reference = max((max(bar.reached, 0) for bar in chart.bars), default=0)
    bars = []
    for index, bar in enumerate(chart.bars):
        box, row_texts = _row(index, bar, reference, top=HEADER + index * ROW)
        bars.append(box)
        texts += row_texts
    height = HEADER + len(chart.bars) * ROW + MARGIN
    return Layout(WIDTH, height, title, BACKGROUND, swatches, tuple(bars), tuple(texts))


def _legend(y: float) -> tuple[tuple[Box, ...], list[Text]]:
    swatches, texts = [], []
    x = float(MARGIN)
    for verdict, words in LEGEND:
        swatches.append(Box(x, y - 11, 12, 12, COLOURS[verdict], radius=2))
        texts.append(Text(x + 18, y, words, 13, MUTED))
        x += 18 + text_width(words, 13) + 22
    return tuple(swatches), texts


def _row(index: int, bar: Bar, reference: int, top: float) -> tuple[Box, list[Text]]:
    width = bar_width(bar.reached, reference)
    centre = MARGIN + LABEL_COLUMN + GAP + FUNNEL_COLUMN / 2
    label = clean(bar.label)
    box = Box(
        centre - width / 2,
        top + (ROW - BAR_HEIGHT) / 2,
        width,
        BAR_HEIGHT,
        COLOURS.get(bar.verdict, COLOURS[""]),
        radius=4,
        tooltip=label,
    )
    middle = top + ROW / 2
    count = f"{max(bar.reached, 0):,} reached"
    texts = [Text(MARGIN, middle + 5, _fit(f"{index + 1}. {label}", 16, LABEL_COLUMN), 16, INK)]
    # The first step has no conversion line, so its count sits level with its label.
    if detail := (conversion_text(bar) if index else ""):
        texts.append(Text(STATS_X, middle - 3, count, 15, INK, bold=True))
        texts.append(Text(STATS_X, middle + 14, _fit(detail, 13, STATS_COLUMN), 13, MUTED))
    else:
        texts.append(Text(STATS_X, middle + 5, count, 15, INK, bold=True))
    return box, texts


def bar_width(reached: int, reference: int) -> float:
    if reference <= 0:
        return MIN_BAR
    return max(MIN_BAR, FUNNEL_COLUMN * max(reached, 0) / reference)


def conversion_text(bar: Bar) -> str:
    parts = []
    if bar.from_previous is not None and math.isfinite(bar.from_previous):
        parts.append(f"{bar.from_previous * 100:.1f} % of previous")
    if bar.benchmark is not None:
        low, high = bar.benchmark
        parts.append(f"benchmark {_percent(low)}–{_percent(high)} %")
    if word := VERDICT_WORDS.get(bar.verdict):
        parts.append(word)
    return " · ".join(parts)


def _percent(fraction: float) -> str:
    # Benchmarks are usually round numbers: "40–60 %" reads better than "40.0–60.0 %".
    return f"{fraction * 100:.1f}".removesuffix(".0")


# --- text -------------------------------------------------------------------------------------

# Bidi overrides and isolates can make a hostile label display as something else.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """One line of printable text: no control characters, surrogates, or XML-invalid code points."""
    text = _BIDI.sub("", _SPACES.sub(" ", str(text)))
    kept = (
        ch
        for ch in text
        if unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn") and ch not in "\ufffe\uffff"
    )
    return "".join(kept).strip()


def text_width(text: str, size: float) -> float:
    """An estimate close to Pillow's default font and to Helvetica/Arial, erring on the wide side.

    The layout must stay pure and identical for both backends, so it cannot ask a font."""
    return sum(_char_width(ch) for ch in text) * size


def _char_width(ch: str) -> float:
    if unicodedata.combining(ch):
        return 0.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if ch in "ijlIftr.,:;|!'`()[]{}/-· ":
        return 0.34
    if ch in "mwMW@%":
        return 0.95
    if ch.isupper():
        return 0.74
    return 0.62


def _fit(text: str, size: float, room: float) -> str:
    if text_width(text, size) <= room:
        return text
    room -= text_width("…", size)
    used = 0.0
    for end, ch in enumerate(text):
        used += _char_width(ch) * size
        if used > room:
            return text[:end].rstrip() + "…"
    return text


# --- backends ---------------------------------------------------------------------------------

SVG_FONT = "Helvetica, Arial, sans-serif"


def svg(chart: FunnelChart) -> str:
    plan = layout(chart)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {plan.width} {plan.height}"'
        f' width="100%" role="img" font-family={quoteattr(SVG_FONT)}>'
    )
    body = [
        f"<title>{escape(plan.title)}</title>",
        _svg_rect(Box(0, 0, plan.width, plan.height, plan.background)),
        *(_svg_rect(box) for box in plan.swatches + plan.bars),
        *(_svg_text(text) for text in plan.texts),
    ]
    return "\n".join([head, *body, "</svg>"]) + "\n"


def _attrs(**values: object) -> str:
    return "".join(f" {name.replace('_', '-')}={quoteattr(_num(v))}" for name, v in values.items())


def _num(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _svg_rect(box: Box) -> str:
    attrs = _attrs(x=box.x, y=box.y, width=box.width, height=box.height, fill=box.fill)
    if box.radius:
        attrs += _attrs(rx=min(box.radius, box.width / 2))
    if box.tooltip:
        return f"<rect{attrs}><title>{escape(box.tooltip)}</title></rect>"
    return f"<rect{attrs}/>"


def _svg_text(text: Text) -> str:
    attrs = _attrs(x=text.x, y=text.y, font_size=text.size, fill=text.fill)
    if text.anchor != "start":
        attrs += _attrs(text_anchor=text.anchor)
    if text.bold:
        attrs += _attrs(font_weight="bold")
    return f"<text{attrs}>{escape(text.text)}</text>"


_PIL_ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}


def png(chart: FunnelChart) -> bytes:
    plan = layout(chart)
    image = Image.new("RGB", (plan.width, plan.height), plan.background)
    draw = ImageDraw.Draw(image)
    for box in plan.swatches + plan.bars:
        _png_rect(draw, box)
    for text in plan.texts:
        _png_text(draw, text)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _png_rect(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0 = round(box.x), round(box.y)
    # Pillow's rectangles include their far edge, SVG's do not.
    x1, y1 = max(x0, round(box.x + box.width) - 1), max(y0, round(box.y + box.height) - 1)
    radius = min(box.radius, (x1 - x0) / 2, (y1 - y0) / 2)
    if radius >= 1:
        draw.rounded_rectangle((x0, y0, x1, y1), radius=round(radius), fill=box.fill)
    else:
        draw.rectangle((x0, y0, x1, y1), fill=box.fill)


def _png_text(draw: ImageDraw.ImageDraw, text: Text) -> None:
    # The default font has no bold face; a hairline stroke in the same colour stands in for it.
    stroke = 0.4 if text.bold else 0
    draw.text(
        (text.x, text.y),
        png_text(text.text),
        fill=text.fill,
        font=_font(text.size),
        anchor=_PIL_ANCHORS[text.anchor],
        stroke_width=stroke,
        stroke_fill=text.fill,
    )


# Pillow's built-in font covers printable ASCII and these few; anything else would draw as a box.
_PNG_GLYPHS = frozenset(map(chr, range(0x20, 0x7F))) | frozenset("©«°±´·»‘’“”…‹›⁄™")
_PNG_SUBSTITUTES = {
    "–": "-", "—": "-", "−": "-", "•": "·", "×": "x", "\u00a0": " ", "€": "EUR", "£": "GBP",
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
    "đ": "d", "Đ": "D", "→": "->", "≥": ">=", "≤": "<=",
}  # fmt: skip


def png_text(text: str) -> str:
    """The text as Pillow's built-in font can draw it: "Café – 40–60 %" becomes "Cafe - 40-60 %".

    Characters with no close ASCII form (CJK, emoji) are left alone and draw as boxes."""
    return "".join(_png_char(ch) for ch in text)


def _png_char(ch: str) -> str:
    if ch in _PNG_GLYPHS:
        return ch
    if ch in _PNG_SUBSTITUTES:
        return _PNG_SUBSTITUTES[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c in _PNG_GLYPHS)
    return base or ch


_FONTS: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


# --- files ------------------------------------------------------------------------------------


def write(chart: FunnelChart, path: str | os.PathLike) -> None:
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".svg":
        target.write_text(svg(chart), encoding="utf-8")
    elif suffix == ".png":
        target.write_bytes(png(chart))
    else:
        raise ValueError(f"--chart: give a file ending in .png or .svg, not '{os.fspath(path)}'")
