"""Which tutorials `xdl tutorials NAME...` runs (xdl/teach/render.py's find)."""

import pytest

from conftest import ROOT
from xdl.errors import InputError
from xdl.teach import render


def _stems(*names):
    return [path.stem for path in render.find(ROOT / "tutorials", list(names))]


def test_a_number_names_one_lesson_and_words_match_part_of_a_name():
    assert _stems("1") == _stems("01") == ["01_first_network"], "1 is lesson 1, not every lesson with a 1"
    assert _stems("13", "similarity") == ["12_text_similarity", "13_reinforcement_learning"]
    assert len(_stems()) == len(list((ROOT / "tutorials").glob("[0-9][0-9]_*.py")))


def test_an_empty_name_is_refused_rather_than_read_as_every_lesson():
    with pytest.raises(InputError, match="an empty NAME"):
        render.find(ROOT / "tutorials", [""])
