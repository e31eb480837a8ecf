"""The funnel spec's Markdown (bodies, outcomes, emails) as HTML for pages and emails."""

import re
from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe


def render_markdown(text: str) -> SafeString:
    """Operator-written Markdown from the funnel spec (never visitor input), rendered to HTML.

    nh3 strips scripts, event handlers and unknown tags first, so a spec written by anyone on
    the team still cannot put script on a visitor's page; only that cleaned HTML is marked safe.
    """
    return mark_safe(_cleaned_html(text))  # noqa: S308


@lru_cache(maxsize=512)
def _cleaned_html(text: str) -> str:
    """Spec text changes only with a new version: render each once per process.
    Headings move one level down: the page's only h1 is the step's title."""
    html = nh3.clean(markdown.markdown(text, extensions=["sane_lists"]))
    return HEADING.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + 1, 6)}", html)


HEADING = re.compile(r"<(/?)h([1-6])(?=[\s>])")
