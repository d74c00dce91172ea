"""What xdl says when something is wrong (issue 26): one line that names the problem, never a
line an artifact's name forged, never live Markdown made from an artifact, never silence.

Markdown is checked by rendering it (mistune, which nbconvert brings) and reading the HTML:
nothing from an artifact may come out as a link, an image, a mention or markup.
"""

import html
import os
import re
import shutil
import subprocess
import sys

import pytest
import test_bad_inputs

from conftest import COMMITTED, ROOT
from xdl import report
from xdl.errors import EXIT_INPUT
from xdl.verify import Check, Report

xdl_here = test_bad_inputs.xdl_here  # the fixture: `check` of a torch model imports PyTorch, seconds per process


def _xdl(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


# --- Markdown reports -------------------------------------------------------------------------

ATTACKS = {
    "link": "[click me](https://evil.example/x)",
    "image": "![pixel](https://evil.example/track.png)",
    "reference link": "[click me][1]",
    "mention": "@octocat please merge",
    "team mention": "@org/team",
    "issue reference": "closes #1",
    "bare url": "see https://evil.example/x now",
    "www autolink": "see www.evil.example now",
    "email autolink": "mail admin@evil.example",
    "autolink": "<https://evil.example>",
    "html": "<img src=x onerror=alert(1)>",
    "code span": "`rm -rf /`",
    "emphasis": "*loud* and _quiet_ and **bold**",
    "strikethrough": "~~struck~~",
    "table cell": "a | b | c",
    "backslash": "\\[not escaped\\]",
}


def _report_of(text: str) -> Report:
    return Report([
        Check(text, text, "cpu", "pass", output=text, shape=[1], max_abs=0.0, max_rel=0.0, mean_abs=0.0,
              p99_abs=0.0, atol=1e-5, rtol=1e-5, batch_size=1),
        Check(text, text, "-", "error", detail=text, exit_code=EXIT_INPUT),
    ])


def _rendered(markdown: str) -> str:
    mistune = pytest.importorskip("mistune", reason="mistune renders the Markdown (it comes with nbconvert, dev extra)")
    return mistune.create_markdown(plugins=["table", "strikethrough", "url"])(markdown)


def _text_of(page: str) -> str:
    """The rendered page as a reader sees it: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_nothing_from_an_artifact_renders_as_markdown(attack):
    page = _rendered(report.to_markdown(_report_of(attack)))
    tags = set(re.findall(r"<(\w+)", page))
    assert tags <= {"h3", "p", "table", "thead", "tbody", "tr", "th", "td"}, (tags, page)
    text = _text_of(page)
    # GitHub finds these in the rendered text, escapes or not: each must be broken
    assert not re.search(r"@\w", text) and not re.search(r"#\d", text), text
    assert "://" not in text and not re.search(r"(?i)www\.", text), text
    # ...by an invisible word joiner only: the reader sees the characters the artifact holds
    assert attack in text.replace("\u2060", ""), text
    rows = [line for line in report.to_markdown(_report_of(attack)).splitlines() if line.startswith("| pass")]
    assert len(rows) == 1 and rows[0].count(" | ") == 7, rows  # no cell added


def test_markdown_escapes_every_kind_of_markup_in_one_string():
    """The escaping is a function of its own, used by every Markdown table (routes too)."""
    everything = " ".join(ATTACKS.values())
    page = _rendered(report.markdown_table(["what"], [[everything]]))
    assert set(re.findall(r"<(\w+)", page)) <= {"table", "thead", "tbody", "tr", "th", "td"}, page
    assert everything in _text_of(page).replace("\u2060", "")


# --- export --check: names come from the disk -------------------------------------------------

def test_export_check_escapes_a_folder_name_that_would_forge_a_line(tmp_path):
    folder = tmp_path / "root" / "evil\nmlp/torch: up to date\nx"
    shutil.copytree(COMMITTED / "mlp" / "torch", folder)
    (folder / "manifest.json").write_text("{not json")
    r = _xdl("export", "--check", "--out", tmp_path / "root")
    assert r.returncode == 2, r.stdout + r.stderr
    assert len(r.stdout.splitlines()) == 1, r.stdout
    assert "up to date" not in [line.split(": ", 1)[-1] for line in r.stdout.splitlines()], r.stdout
    assert "evil\\nmlp/torch: up to date\\nx: error:" in r.stdout


# --- check: the user's code may exit, but nothing checked is no success -----------------------

def test_a_model_that_exits_in_its_forward_is_a_failure(tmp_path, xdl_here):
    pytest.importorskip("torch")
    (tmp_path / "quits.py").write_text(
        "import sys\nimport torch\n\nclass Quits(torch.nn.Module):\n    def forward(self, x):\n"
        "        sys.exit(0)\n\ndef build():\n    return Quits()\n")
    r = xdl_here(["check", "quits:build", "--input-shape", "2,3", "--providers", "cpu"], cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Quits fails on inputs of shape [2, 3]: SystemExit" in r.stderr and "Traceback" not in r.stderr


# --- tutorials: say why ------------------------------------------------------------------------

def test_tutorials_outside_the_checkout_are_found_and_a_folder_without_any_says_so(tmp_path):
    r = _xdl("tutorials", "99", cwd=tmp_path)  # the checkout xdl is installed from: its lessons are named
    assert r.returncode == 2 and r.stderr.startswith("xdl: error: no tutorial matches 99; have: 01_first_network"), r.stderr
    r = _xdl("tutorials", "", cwd=tmp_path)  # an empty shell variable: not "every lesson"
    assert r.returncode == 2 and "an empty NAME matches every tutorial" in r.stderr, r.stderr
    r = _xdl("tutorials", "01", "--dir", tmp_path, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"xdl: error: no tutorials (NN_name.py) in {tmp_path}; pass --dir "
                                             "the folder that holds them"]


def test_a_tutorial_whose_renderer_crashes_says_why(tmp_path):
    """The renderer's process died (here: the tutorial is a folder); its last stderr line is the
    reason, where `0 of 1 tutorials ran` once followed an empty line."""
    from xdl.teach import render

    if render.missing():
        pytest.skip(f"the tutorials need {', '.join(render.missing())}")
    (tmp_path / "tutorials" / "01_broken.py").mkdir(parents=True)
    r = _xdl("tutorials", "--dir", tmp_path / "tutorials", "--out", tmp_path / "notebooks", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    line = r.stdout.splitlines()[0]
    assert line.startswith("FAILED ") and "01_broken.py" in line and "IsADirectoryError" in line, r.stdout
