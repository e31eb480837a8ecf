"""Every YAML example in the docs is a valid spec: the docs cannot drift from the schema."""

import re
from pathlib import Path

import pytest

from yesladder.funnels.spec import parse_spec

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def yaml_blocks():
    for doc in sorted(DOCS.glob("*.md")):
        for i, block in enumerate(BLOCK.findall(doc.read_text())):
            yield pytest.param(block, id=f"{doc.name}-{i}")


@pytest.mark.parametrize("block", list(yaml_blocks()))
def test_yaml_example_is_valid(block):
    if block.lstrip().startswith("- key:"):
        indented = "".join(f"  {line}\n" for line in block.splitlines())
        block = "funnel: doc\nname: Doc\nsteps:\n" + indented
    assert parse_spec(block, "doc.yaml").spec.steps


def test_benchmarks_are_checked():
    from yesladder.funnels.spec import SpecError

    head = "funnel: x\nname: X\nsteps:\n  - {key: a, kind: content, title: T, body: b}\n"
    with pytest.raises(SpecError, match="low"):
        parse_spec(head + "benchmarks: {a: {low: 60, high: 40}}\n")
    with pytest.raises(SpecError, match="unknown step"):
        parse_spec(head + "benchmarks: {zz: {low: 40, high: 60}}\n")
