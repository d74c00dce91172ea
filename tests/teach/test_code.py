"""A twin's code as a lesson shows it (xdl/teach/code.py): comments out, strings kept, highlighted,
one block per line carrying its indentation."""

from xdl.teach.code import highlighted, without_comments

CODE = '''def build(spec):  # the Keras twin
    """Docstring # not a comment."""
    # a porting note on a line of its own
    x = "#fff"  # a colour
    return x
'''


def test_comments_go_strings_and_docstrings_stay():
    assert without_comments(CODE) == 'def build(spec):\n    """Docstring # not a comment."""\n    x = "#fff"\n    return x\n'


def test_each_line_is_a_highlighted_block_with_its_indentation():
    page = highlighted(CODE)
    assert page.count('class="line"') == 4 and page.count("--indent: 4ch") == 3
    assert '<span class="k">def</span>' in page and "porting note" not in page


def test_a_line_never_breaks_between_its_indentation_and_its_first_token():
    page = highlighted("def f():\n    keras.Input(shape=(1,))\n")
    assert '<span class="lead">    <span class="n">keras</span></span>' in page
    words = highlighted('x = (\n    "a string of words"\n)\n')
    assert '--indent: 4ch">    <span class="s2">' in words, "a string of several words may wrap at its spaces"
