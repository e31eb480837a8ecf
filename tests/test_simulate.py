"""The synthetic visitor's reading of pages and its one rule: never leave the given origin."""

import pytest

from tests.conftest import sourced_from
from yesladder.demo.simulate import Browser, OffSite, Stats, benchmark_chances, read_page

PAGE = """
<form method="post" class="quiz"><input type="hidden" name="csrfmiddlewaretoken" value="t">
  <input type="hidden" name="action" value="answer"><input type="hidden" name="question" value="q1">
  <button type="submit" name="option" value="a">A</button>
  <button type="submit" name="option" value="b">B</button></form>
<form method="post" class="cta"><input type="hidden" name="csrfmiddlewaretoken" value="t">
  <input id="f-email" name="email" type="email">
  <select name="role"><option value="">Choose…</option>
  <option>CEO</option><option value="cto">CTO</option></select>
  <button type="submit">Go</button></form>
<a href="/d/abc/">Download</a><input id="share-url" value="http://x/f/f/?r=abc" readonly>
<form method="get"><input name="q"></form>
"""


def test_reads_forms_buttons_fields_options_links():
    page = read_page(PAGE)
    quiz, cta = page.forms
    assert quiz.purpose == "answer" and quiz.fields["question"] == "q1"
    assert quiz.buttons == [("option", "a"), ("option", "b")]
    assert cta.inputs == [("email", "email")] and cta.selects == {"role": ["CEO", "cto"]}
    assert page.links == ["/d/abc/"] and page.readonly == ["http://x/f/f/?r=abc"]


@pytest.mark.parametrize(
    "url",
    ["https://evil.example/", "http://127.0.0.2:8000/", "https://127.0.0.1:8000/f/x/", "//evil/"],
)
def test_never_leaves_the_origin(url):
    browser = Browser("http://127.0.0.1:8000", "UA", "10.0.0.1", Stats())
    with pytest.raises(OffSite):
        browser.get(url)


def test_benchmarks_set_the_chance_of_going_on(clean):
    clean["benchmarks"] = {"checklist": {"low": 20, "high": 40}}
    spec = sourced_from(clean).spec
    assert benchmark_chances(spec) == {"guide": 0.3}


def test_reads_a_quizs_checkboxes_and_number_bounds():
    page = read_page("""<form method="post"><input type="hidden" name="action" value="answer">
      <input type="checkbox" name="option" value="email"><input type="checkbox" name="option"
      value="chat"><button type="submit">Next</button></form>
      <form method="post"><input type="hidden" name="action" value="answer">
      <input name="value" type="number" min="0" max="365"><button>Next</button></form>""")
    multiple, number = page.forms
    assert multiple.selects == {"option": ["email", "chat"]} and not multiple.inputs
    assert number.inputs == [("value", "number")] and number.bounds == {"value": (0, 365)}
