"""The tests themselves: they mirror the packages, and CI runs them as the README says."""

import re

from conftest import ROOT

PACKAGE = ROOT / "xdl"
# tests/<a package or module of xdl>/test_*.py, and tests/project/ for the repository as a whole
# (layers, docs, install, these rules)
FOLDERS = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} | {
    p.stem for p in PACKAGE.glob("*.py") if not p.name.startswith("_")} | {"project"}


def test_every_test_lives_in_the_folder_of_what_it_tests():
    misplaced = [str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                 if len(p.relative_to(ROOT / "tests").parts) != 2 or p.parent.name not in FOLDERS]
    assert not misplaced, f"move these to tests/<package>/ ({', '.join(sorted(FOLDERS))}): {misplaced}"


def test_the_readme_gives_the_test_command_ci_runs():
    ci = re.findall(r"^(python -m pytest\b.*)$", (ROOT / ".ci" / "run").read_text(), re.M)
    assert len(ci) == 1, f".ci/run runs pytest {len(ci)} times"
    assert f"`{ci[0]}`" in (ROOT / "README.md").read_text(), f"README.md does not say `{ci[0]}`"
