"""The `yesladder` command as a user meets it: exit codes, text and JSON, no tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from yesladder.cli import main

ROOT = Path(__file__).resolve().parent.parent
HARD_SELL = """\
funnel: hard-sell
name: Straight to the sale
steps:
  - key: buy
    kind: offer
    title: The complete system
    value: Everything you need, at once
    cta: Get the system
    ask: {fields: [name, email, phone, card]}
    price: 997
    macro: true
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yesladder.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_examples_pass_the_linter_cleanly(capsys):
    assert main(["lint", str(ROOT / "examples")]) == 0
    out = capsys.readouterr().out
    assert "4 files: 0 errors, 0 warnings" in out


def test_a_997_first_step_gets_yl001_and_yl008(tmp_path, capsys):
    path = tmp_path / "hard.yaml"
    path.write_text(HARD_SELL)
    assert main(["lint", str(path)]) == 1
    text = capsys.readouterr().out
    assert f"{path}:9: YL001 error [step buy]" in text
    assert f"{path}:4: YL008 error [step buy]" in text
    assert main(["lint", "--format", "json", str(path)]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {"YL001", "YL008"} <= {r["rule"] for r in rows}
    for row in rows:
        assert set(row) >= {"rule", "severity", "funnel", "step", "line", "message", "hint"}
        assert row["funnel"] == "hard-sell"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "funnel: x\nname: X\nsteps:\n  - key: a\n    kind: content\n"
            "    title: T\n    body: [b]\n",
            ":7: steps[0].body: expected a valid string",
        ),
        (
            "funnel: x\nname: X\nsteps:\n  - key: a\n    kind: blog\n    title: T\n",
            ":5: steps[0].kind: unknown step kind 'blog'",
        ),
        (
            "funnel: x\nsteps:\n  - {key: a, kind: content, title: T, body: b}\n",
            ":1: name: missing required field 'name'",
        ),
        (
            "funnel: x\nname: X\nsteps:\n  - key: a\n    kind: content\n  title: T\n",
            ":6: title: YAML syntax error",
        ),
    ],
    ids=["wrong-type", "unknown-kind", "missing-key", "bad-indentation"],
)
def test_malformed_files_exit_2_without_traceback(tmp_path, text, expected):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    result = run("lint", str(path))
    assert result.returncode == 2
    assert f"{path}{expected}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    as_json = run("lint", "--format", "json", str(path))
    assert as_json.returncode == 2
    [row] = json.loads(as_json.stdout)
    assert row["rule"] == "spec" and row["line"] == int(expected.split(":")[1])


def test_missing_file_and_unknown_rule(tmp_path, capsys):
    assert main(["lint", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["lint", "--disable", "YL999", str(ROOT / "examples")])
    assert info.value.code == 2


def test_unknown_rule_in_spec_is_a_spec_error(tmp_path, capsys):
    path = tmp_path / "f.yaml"
    path.write_text(
        (ROOT / "examples" / "solo-ad.yaml")
        .read_text()
        .replace("audience: warm", "audience: warm\nlint: {disable: [YL077]}")
    )
    (tmp_path / "solo-ad").mkdir()
    assert main(["lint", str(path)]) == 2
    assert "unknown rule id 'YL077'" in capsys.readouterr().out


def test_rules_and_ladder_views(capsys):
    assert main(["lint", "--rules"]) == 0
    assert "YL014" in capsys.readouterr().out
    assert main(["lint", "--ladder", str(ROOT / "examples" / "b2b-ladder.yaml")]) == 0
    assert "commitment cost along the ladder" in capsys.readouterr().out


def test_init_scaffolds_a_project_that_lints_clean(tmp_path, capsys):
    target = tmp_path / "Spring Launch"
    assert main(["init", str(target)]) == 0
    assert "funnel 'spring-launch'" in capsys.readouterr().out
    assert main(["lint", str(target / "funnel.yaml")]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out
    assert main(["init", str(target)]) == 2


def test_help_and_version():
    assert "yesladder lint" in run("--help").stdout
    assert run("--version").stdout.startswith("yesladder ")
