"""A twin's code as a lesson shows it: highlighted by Pygments, its comments left out (the prose
beside it says what differs between the twins), and every line a block of its own whose wrapped
part keeps the line's indentation, so that a long line wraps at a space and still reads as Python.
"""

from __future__ import annotations

import io
import re
import tokenize

# a line's leading spaces (plain, or Pygments' whitespace token) and its first token, where that
# token is one word (a string of several words may still wrap at its spaces)
LEAD = re.compile(r'^((?: *|<span class="w"> *</span>)(?:<span class="[^"]*">[^< ]*</span>|[^ <]+))')
# the page's style sheet (xdl/teach/site/static/xdl.css) gives `.xdl-code .line` its hanging indent
CSS_CLASS = "xdl-code"


def without_comments(code: str) -> str:
    """`code` without its comments; a line that held only a comment is dropped, a docstring is kept.

    tokenize finds the comments, so a `#` inside a string stays."""
    lines = code.splitlines()
    comment_only = set()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type != tokenize.COMMENT:
            continue
        row, col = token.start
        before = lines[row - 1][:col]
        if before.strip():
            lines[row - 1] = before.rstrip()
        else:
            comment_only.add(row - 1)
    return "\n".join(line for i, line in enumerate(lines) if i not in comment_only) + "\n"


def highlighted(code: str) -> str:
    """HTML for `code` without its comments: one `<span class="line">` per line, its indentation
    (in characters) in a style the CSS turns into a hanging indent."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    code = without_comments(code)
    # nowrap: the bare token spans, closed and reopened at each line end, so each line stands alone
    body = highlight(code, PythonLexer(), HtmlFormatter(nowrap=True)).rstrip("\n").split("\n")
    plain = code.rstrip("\n").split("\n")
    rows = []
    for line, text in zip(body, plain):
        indent = len(text) - len(text.lstrip(" "))
        # The indentation and the first token never part: a line breaks at a later space, or its
        # first word runs on (and the box scrolls), but it never starts on a row of its own.
        line = LEAD.sub(r'<span class="lead">\1</span>', line, count=1)
        rows.append(f'<span class="line" style="--indent: {indent}ch">{line or " "}</span>')
    return (f'<div class="{CSS_CLASS} highlight"><pre>' + "".join(rows) + "</pre></div>")
