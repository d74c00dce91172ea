"""Sphinx's configuration of the course site (`xdl site`, xdl/teach/book.py builds it).

Sphinx + myst-nb: the lessons are executed notebooks (tutorials/notebooks/, full runs) shown as they
ran, never executed here; the prose is MyST Markdown, whose {glue:text} roles print the numbers the
cells recorded (xdl.teach.helpers.glue). Everything a page loads ships with the site: the Furo theme,
Sphinx's own search, MathJax (from npm, copied by book.py), the demos' ONNX Runtime Web.
"""

import os

project = "xdl"
author = "the xdl authors"
copyright = "the xdl authors, Apache-2.0"
html_title = "xdl: one network, two frameworks, ONNX"
extensions = ["myst_nb"]
# the notebooks ran when they were committed (`xdl tutorials`): the site shows them, runs nothing
nb_execution_mode = "off"
nb_merge_streams = True  # one output block per cell for what print() wrote in several pieces
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "attrs_inline", "attrs_block"]
myst_heading_anchors = 3  # README.md#exit-codes and the docs' own section links resolve
html_theme = "furo"
html_static_path = [os.environ["XDL_SITE_STATIC"], os.path.join(os.path.dirname(__file__), "static")]
html_css_files = ["xdl.css"]
html_favicon = os.path.join(os.path.dirname(__file__), "static", "favicon.svg")  # a served page asks for one
# MathJax 3 with SVG output: its glyphs are in the script, so no font file has to load (Chromium
# refuses web fonts from file:// pages); copied into _static by book.py
mathjax_path = "mathjax/tex-svg.js"
html_copy_source = False
html_show_sourcelink = False
suppress_warnings = ["myst.header"]  # docs start at heading level 1 and may skip a level
exclude_patterns = ["tutorials/notebooks/**", "_static/**"]
