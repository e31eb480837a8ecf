"""The funnel chart: one layout drawn as SVG and PNG, readable numbers, hostile labels inert."""

import io
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest
from PIL import Image

from yesladder.analytics import chart
from yesladder.analytics.chart import Bar, FunnelChart

SVG_NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>"


def ladder(*bars: Bar, title="Solo-ad ladder — 1 Oct to 30 Oct 2026") -> FunnelChart:
    return FunnelChart(title, bars, subtitle="12,345 people entered · 3.1 % reached the last step")


def solo_ad() -> FunnelChart:
    return ladder(
        Bar("Read the guide", 12345, None, None, ""),
        Bar("Downloaded the checklist", 5247, 0.425, (0.4, 0.6), "within"),
        Bar("Took the quiz", 1700, 0.324, (0.35, 0.5), "below"),
        Bar("Booked a call", 1050, 0.6176, (0.5, 0.6), "above"),
        Bar("Bought the offer", 383, 0.3648, (0.6, 0.8), "small"),
    )


def svg_root(funnel: FunnelChart) -> ET.Element:
    root = ET.fromstring(chart.svg(funnel))
    assert root.tag == f"{SVG_NS}svg"
    return root


def drawn_texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG_NS}text")]


def png_image(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(data))


# --- SVG --------------------------------------------------------------------------------------


def test_the_svg_is_a_standalone_svg_document_that_scales_to_its_container():
    document = chart.svg(solo_ad())
    root = svg_root(solo_ad())
    assert root.get("viewBox").startswith("0 0 1200 ")
    assert root.get("width") == "100%"
    assert "<script" not in document and "href" not in document and "url(" not in document


def test_the_svg_shows_every_label_count_and_conversion():
    texts = "\n".join(drawn_texts(svg_root(solo_ad())))
    for label in (
        "Read the guide",
        "Downloaded the checklist",
        "Took the quiz",
        "Bought the offer",
    ):
        assert label in texts
    for count in ("12,345", "5,247", "1,700", "1,050", "383"):
        assert f"{count} reached" in texts
    assert "42.5 % of previous · benchmark 40–60 %" in texts
    assert "32.4 %" in texts and "benchmark 35–50 %" in texts
    assert "61.8 %" in texts and "36.5 %" in texts
    assert "Solo-ad ladder — 1 Oct to 30 Oct 2026" in texts
    assert "12,345 people entered" in texts


def test_the_first_step_has_no_conversion_even_with_a_benchmark():
    funnel = ladder(Bar("Entry", 100, 0.5, (0.1, 0.2), ""), Bar("Next", 50, 0.5, None, ""))
    texts = drawn_texts(svg_root(funnel))
    assert sum("50.0 %" in text for text in texts) == 1
    assert not any("benchmark 10–20 %" in text for text in texts)


def test_bars_are_coloured_by_verdict_and_the_legend_names_the_colours():
    plan = chart.layout(solo_ad())
    fills = [bar.fill for bar in plan.bars]
    assert fills == [chart.COLOURS[v] for v in ("", "within", "below", "above", "small")]
    assert len(set(fills)) == 5
    assert {swatch.fill for swatch in plan.swatches} == set(chart.COLOURS.values())
    texts = drawn_texts(svg_root(solo_ad()))
    assert {"below benchmark", "within benchmark", "above benchmark"} <= set(texts)


def test_a_hostile_label_and_title_appear_only_escaped():
    funnel = ladder(
        Bar(HOSTILE, 10, None, None, ""),
        Bar("\"&'><", 5, 0.5, None, ""),
        Bar("bad\x00\x1b[31m\u202eevil\ud800", 1, 0.2, None, ""),
        title=f'{HOSTILE}" onload="alert(2)',
    )
    document = chart.svg(funnel)
    assert HOSTILE not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "&amp;'&gt;&lt;" in document
    root = svg_root(funnel)
    assert not [element for element in root.iter() if "script" in element.tag.lower()]
    assert not [name for element in root.iter() for name in element.attrib if name.startswith("on")]
    texts = drawn_texts(root)
    assert f"1. {HOSTILE}" in texts and "2. \"&'><" in texts
    assert "3. bad[31mevil" in texts  # control, bidi and surrogate characters are gone
    document.encode("utf-8")  # and would have made the file unwritable


def test_long_labels_are_cut_with_an_ellipsis_but_kept_whole_in_the_tooltip():
    label = "Read the whole guide about small commitments " * 11  # about 500 characters
    root = svg_root(ladder(Bar(label, 10, None, None, "")))
    drawn = next(text for text in drawn_texts(root) if text.startswith("1. Read"))
    assert drawn.endswith("…") and len(drawn) < 60
    assert chart.text_width(drawn, 16) <= chart.LABEL_COLUMN
    assert label.strip() in [element.text for element in root.iter(f"{SVG_NS}title")]


# --- the layout -------------------------------------------------------------------------------


def test_bar_widths_are_proportional_to_the_people_who_reached_the_step():
    funnel = ladder(
        Bar("All", 10000, None, None, ""),
        Bar("Half", 5000, 0.5, None, ""),
        Bar("A fifth", 2000, 0.4, None, ""),
    )
    first, half, fifth = chart.layout(funnel).bars
    assert first.width == max(bar.width for bar in chart.layout(funnel).bars)
    assert abs(half.width - first.width / 2) <= 1
    assert abs(fifth.width - first.width / 5) <= 1


def test_bars_are_centred_one_under_the_other_like_a_funnel():
    bars = chart.layout(solo_ad()).bars
    centres = {round(bar.x + bar.width / 2, 6) for bar in bars}
    assert len(centres) == 1
    assert [bar.y for bar in bars] == sorted(bar.y for bar in bars)
    assert all(a.y + a.height <= b.y for a, b in pairwise(bars))


def test_a_funnel_nobody_entered_draws_thin_bars():
    funnel = ladder(Bar("Entry", 0, None, None, ""), Bar("Next", 0, None, (0.4, 0.6), "small"))
    plan = chart.layout(funnel)
    assert all(0 < bar.width <= 2 for bar in plan.bars)
    assert "0 reached" in drawn_texts(svg_root(funnel))
    assert png_image(chart.png(funnel)).size[0] == 1200


def test_forty_steps_all_fit_in_the_picture():
    funnel = ladder(
        *(Bar(f"Step {n}", 4000 - n * 100, 0.97, (0.9, 1.0), "within") for n in range(40))
    )
    plan = chart.layout(funnel)
    assert len(plan.bars) == 40
    assert all(bar.y + bar.height <= plan.height for bar in plan.bars)
    assert all(text.y <= plan.height for text in plan.texts)
    assert "40. Step 39" in drawn_texts(svg_root(funnel))
    image = png_image(chart.png(funnel))
    assert image.size == (plan.width, plan.height)


# --- PNG and files ----------------------------------------------------------------------------


def test_the_png_is_about_1200_pixels_wide_and_draws_the_bars():
    image = png_image(chart.png(solo_ad())).convert("RGB")
    assert image.format is None or image.format == "PNG"
    assert 1100 <= image.size[0] <= 1300
    first = chart.layout(solo_ad()).bars[0]
    centre = (round(first.x + first.width / 2), round(first.y + first.height / 2))
    assert image.getpixel(centre) == Image.new("RGB", (1, 1), first.fill).getpixel((0, 0))


def test_the_png_spells_characters_its_font_lacks_in_plain_letters():
    assert chart.png_text("Café – 40–60 % · ß") == "Cafe - 40-60 % · ss"


def test_write_picks_the_format_by_suffix(tmp_path):
    chart.write(solo_ad(), tmp_path / "funnel.svg")
    chart.write(solo_ad(), str(tmp_path / "funnel.PNG"))
    assert (tmp_path / "funnel.svg").read_text(encoding="utf-8") == chart.svg(solo_ad())
    assert png_image((tmp_path / "funnel.PNG").read_bytes()).size[0] == 1200


def test_write_refuses_any_other_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = "--chart: give a file ending in .png or .svg, not 'chart.txt'"
    with pytest.raises(ValueError) as raised:
        chart.write(solo_ad(), "chart.txt")
    assert str(raised.value) == message
    assert not (tmp_path / "chart.txt").exists()
