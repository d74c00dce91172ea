"""Quick mode: the test suite's renders train a token few epochs and their pages say so; the
course's renders and a tutorial run as a script train the full sizes and say nothing."""

import nbformat
import pytest

from xdl.teach import render
from xdl.teach.helpers import QUICK, lesson_size


def _notebook():
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 1. A lesson"),
                                           nbformat.v4.new_code_cell("epochs = lesson_size(15)")])


@pytest.mark.parametrize("value", ["", "0"])
def test_full_mode_trains_the_lessons_sizes_and_adds_no_note(monkeypatch, value):
    monkeypatch.setenv(QUICK, value)
    assert (lesson_size(15), lesson_size(150, quick=20)) == (15, 150)
    nb = _notebook()
    render.note_quick_mode(nb)
    assert [c.source for c in nb.cells] == [c.source for c in _notebook().cells]


def test_full_mode_is_the_default(monkeypatch):
    monkeypatch.delenv(QUICK, raising=False)
    assert lesson_size(15) == 15


def test_quick_mode_trains_the_quick_sizes_and_says_so_at_the_top(monkeypatch):
    monkeypatch.setenv(QUICK, "1")
    assert (lesson_size(15), lesson_size(150, quick=20)) == (1, 20)
    nb = _notebook()
    render.note_quick_mode(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source == render.QUICK_NOTE
    assert nb.cells[1].source == "# 1. A lesson" and len(nb.cells) == 3
