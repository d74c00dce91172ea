"""The course site (`xdl site`, xdl/teach/book.py): built from the committed notebooks, every link
resolving, every glued number found, and read in a real browser (Debian's Chromium): no script
error, nothing wider than the window, code highlighted, maths rendered, search answering."""

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from conftest import ROOT
from xdl.errors import EnvironmentProblem, InputError
from xdl.teach import book

NODE_MODULES = ROOT / "web" / "node_modules"


def _lesson(tmp_path, goals=True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 1. A lesson\n\nWhat it is about.\n\n**Goals**\n- build a net\n- train it in both\n  frameworks\n\n"
                                      "**Prerequisites**: none" if goals else "# 1. A lesson\n\nWhat it is about."),
        nbformat.v4.new_code_cell("x = 1", metadata={"title": "keras: the model"}),
        nbformat.v4.new_code_cell("x = 2", metadata={"title": "torch: the model"}),
        nbformat.v4.new_code_cell("y = 3"),
    ]
    nb.metadata["xdl"] = {"seconds": 41.6, "cores": 2, "date": "2026-12-04", "quick": False, "error": ""}
    path = tmp_path / "01_a_lesson.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_lessons_title_summary_and_goals_are_read_from_its_first_cell(tmp_path):
    nb = nbformat.read(_lesson(tmp_path), as_version=4)
    assert book.title_and_summary(nb) == ("1. A lesson", "What it is about.", ["build a net", "train it in both frameworks"])
    assert book.run_time(nb) == "42 s on 2 cores, 2026-12-04"
    assert book.title_and_summary(nbformat.read(_lesson(tmp_path, goals=False), as_version=4))[2] == []


def test_keras_and_torch_cells_are_paired_and_titled(tmp_path):
    nb = nbformat.read(_lesson(tmp_path), as_version=4)
    book.pair_cells(nb)
    keras, torch, plain = nb.cells[1:]
    assert "xdl-keras" in keras.metadata["tags"] and "xdl-torch" in torch.metadata["tags"]
    assert keras.source == "# keras: the model\nx = 1" and "tags" not in plain.metadata


def test_the_index_lists_each_lesson_with_its_model_and_run_time(tmp_path):
    row = next(line for line in book.index([_lesson(tmp_path)], ROOT).splitlines() if line.startswith("| [1."))
    assert row == "| [1. A lesson](tutorials/01_a_lesson.ipynb) | • build a net<br>• train it in both frameworks | - | 42 s on 2 cores |"


def test_the_index_quotes_a_lessons_glued_numbers_from_its_notebook():
    text = "accuracy {glue:text}`acc:.2f` and {glue}`n`"
    assert book.glued_from("01_a.ipynb", text) == \
        "accuracy {glue:text}`tutorials/01_a.ipynb::acc:.2f` and {glue:text}`tutorials/01_a.ipynb::n`"


def test_no_lessons_and_no_checkout_are_one_line_each(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="run `xdl tutorials` first"):
        book.lessons(tmp_path, tmp_path)
    _lesson(tmp_path)
    with pytest.raises(InputError, match="has no tutorial 01_a_lesson.py"):
        book.lessons(tmp_path, tmp_path)
    (tmp_path / "01_a_lesson.py").write_text("")
    assert book.lessons(tmp_path, tmp_path) == [tmp_path / "01_a_lesson.ipynb"]
    (tmp_path / "02_broken.ipynb").write_text("{not json")
    (tmp_path / "02_broken.py").write_text("")
    with pytest.raises(InputError, match="02_broken.ipynb is not an executed lesson"):
        book.lessons(tmp_path, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert book.repository() == ROOT, "found from the installed package when the folder is elsewhere"


def test_a_folder_the_site_did_not_write_is_never_replaced(tmp_path):
    keep = tmp_path / "mine" / "thesis.tex"
    keep.parent.mkdir()
    keep.write_text("years of work")
    with pytest.raises(InputError, match="no `xdl site` wrote"):
        book.build(keep.parent, ROOT, ROOT / "tutorials" / "notebooks")
    assert keep.read_text() == "years of work"


def test_mathjax_missing_says_how_to_install_it(tmp_path):
    with pytest.raises(EnvironmentProblem, match="cd web && npm ci"):
        book.copy_mathjax(tmp_path / "node_modules", tmp_path / "static")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_number_the_prose_names_but_the_notebook_lacks_fails_the_build(tmp_path):
    """A lesson whose outputs are gone would print blanks where its numbers were: no site."""
    if not (NODE_MODULES / "mathjax").is_dir():
        pytest.skip("web/node_modules is not installed (cd web && npm ci; .ci/run does)")
    nb = nbformat.read(ROOT / "tutorials" / "notebooks" / "07_autoencoder.ipynb", as_version=4)
    for cell in nb.cells:
        cell.pop("outputs", None) if cell.cell_type != "code" else cell.update(outputs=[])
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "07_autoencoder.ipynb")
    with pytest.raises(InputError, match="No key 'ae_[a-z_]+' found in glue data"):
        book.build(tmp_path / "site", ROOT, tmp_path / "nb")
    assert not (tmp_path / "site").exists(), "nothing half-built is left"


def test_a_lesson_that_ran_with_an_error_is_no_page(tmp_path):
    path = _lesson(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    nbformat.write(nb, path)
    (tmp_path / "01_a_lesson.py").write_text("")
    with pytest.raises(InputError, match=r"ran with an error \(boom\)"):
        book.lessons(tmp_path, tmp_path)


# --- the site built from the committed notebooks ---------------------------------------------------

@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The site, built once per session from tutorials/notebooks/ (every xdist worker shares it)."""
    from filelock import FileLock

    if not (NODE_MODULES / "mathjax").is_dir():
        pytest.skip("web/node_modules is not installed (cd web && npm ci; .ci/run does)")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    out = base / "course-site"
    with FileLock(base / "course-site.lock"):
        if not (out / "index.html").is_file():
            book.build(out, ROOT)
    return out


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [value for name, value in attrs if name in ("href", "src") and value]


def _pages(site) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.name not in ("genindex.html", "search.html"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_link_of_the_site_resolves(site):
    broken = []
    for page in site.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text())
        for ref in parser.refs:
            url = urlsplit(ref)
            if url.scheme or ref.startswith(("#", "//")):
                continue  # another site's page is a link to follow, never a file the page loads
            target = (page.parent / unquote(url.path)).resolve()
            if not (target / "index.html" if url.path.endswith("/") else target).exists():
                broken.append(f"{page.relative_to(site)} -> {ref}")
    assert not broken, broken[:10]
    lessons = sorted((site / "tutorials").glob("[0-9][0-9]_*.html"))
    assert len(lessons) == len(list((ROOT / "tutorials").glob("[0-9][0-9]_*.py")))
    for lesson in lessons:
        text = lesson.read_text()
        assert "All lessons" in text and f"{lesson.stem}.ipynb" in text and f"{lesson.stem}.py" in text, lesson.name
        assert not re.search(r"<script[^>]+src=\"https?:", text), "a page loads no script from elsewhere"


def _browser():
    """Headless Chromium through Selenium, or the reason there is none (.ci/run installs Debian's
    chromium and chromium-driver)."""
    try:
        from selenium import webdriver
    except ImportError:
        return None, "selenium is not installed (pip install -e '.[dev]')"
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        return None, "no chromium and chromedriver here (Debian: apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver)), ""


@pytest.fixture(scope="module")
def browser():
    driver, why_not = _browser()
    if driver is None:
        pytest.skip(why_not)
    yield driver
    driver.quit()


# what each page must show once loaded: images loaded, no page wider than the window, code highlighted
# (Pygments' spans), every maths element typeset by MathJax (an mjx-container, no merror)
LOOK = """
const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
const images = Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(-60));
const code = document.querySelectorAll('div.highlight pre').length;
const plain = Array.from(document.querySelectorAll('div.highlight pre')).filter(p => !p.querySelector('span')).length;
const maths = document.querySelectorAll('.math').length;
const typeset = document.querySelectorAll('mjx-container').length;
const failed = document.querySelectorAll('mjx-merror, [data-mjx-error]').length;
return {wide, images, code, plain, maths, typeset, failed};
"""


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_every_page_reads_well_in_a_browser(site, browser):
    """Every page, wide and narrow, from a file:// URL as a reader opening the folder would."""
    problems = []
    for page in _pages(site):
        for width in (1280, 640):
            browser.set_window_size(width, 900)
            browser.get(page.as_uri())
            if "math" in page.read_text():
                browser.execute_async_script(
                    "const done = arguments[0]; (window.MathJax && MathJax.startup) ? "
                    "MathJax.startup.promise.then(() => done()) : done();")
            seen = browser.execute_script(LOOK)
            name = f"{page.relative_to(site)} at {width}px"
            problems += [f"{name}: wider than the window"] * seen["wide"]
            problems += [f"{name}: images that do not load {seen['images']}"] * bool(seen["images"])
            problems += [f"{name}: {seen['plain']} code blocks not highlighted"] * bool(seen["plain"])
            if seen["maths"]:
                problems += [f"{name}: maths not typeset"] * (seen["typeset"] == 0 or seen["failed"] > 0)
            problems += [f"{name}: {e['message'][:200]}" for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not problems, problems[:20]


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_search_finds_a_lesson_offline(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((site / "search.html").as_uri() + "?q=dropout")
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "ul.search li"))
    hits = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "ul.search li a")]
    assert any("/tutorials/" in hit for hit in hits), hits[:5]
