"""Teaching: what the tutorials share (helpers.py, code.py), running them as notebooks (render.py)
and the course site built from those runs (book.py, with Sphinx's configuration in site/)."""
