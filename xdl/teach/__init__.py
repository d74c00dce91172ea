"""Teaching: the tutorials' helpers (helpers.py) and their rendering to notebooks and HTML
pages with jupytext, nbclient and nbconvert (render.py)."""
