"""The README's "Your own model, in CI" snippet works as written: its install line names an
installable path and a real extra (pip's dry run, offline), and every command after it runs, in
order, in a folder holding the user's module, with the README's test file."""

import os
import re
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT

SECTION = "### Your own model, in CI"
# The user's own module that the snippet names: a tiny model of the shape its commands give.
MYMODELS = "import torch\n\n\ndef build():\n    torch.manual_seed(0)\n    return torch.nn.Linear(8, 3)\n"


def _snippet() -> tuple[list[str], str, str]:
    """(the bash block's lines, the python block, the file name its first line gives)."""
    readme = (ROOT / "README.md").read_text()
    section = re.split(r"\n#{2,} ", readme[readme.index(SECTION) + len(SECTION):])[0]  # up to the next heading
    bash = re.search(r"```bash\n(.*?)```", section, re.S).group(1).splitlines()
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    name = re.match(r"# (\S+\.py)\n", python).group(1)
    return bash, python, name


def test_the_install_line_names_an_installable_path_and_a_real_extra(tmp_path):
    bash, _, _ = _snippet()
    install = re.fullmatch(r'pip install "\./(\w+)\[(\w+)\]"', bash[0])
    assert install, f"the first line is not the install from a clone: {bash[0]!r}"
    folder, extra = install.groups()
    assert extra in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (tmp_path / folder).symlink_to(ROOT)
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
                          "--no-build-isolation", "--no-index", f"./{folder}[{extra}]"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "Would install xdl" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]


@pytest.mark.timeout(600)
def test_the_commands_after_the_install_run_as_written(tmp_path):
    bash, python, name = _snippet()
    (tmp_path / "mymodels.py").write_text(MYMODELS)
    (tmp_path / name).write_text(python)
    # `xdl` and `python` are this environment's; the code imported is this checkout's
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    for line in bash[1:]:
        run = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{line}\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
    assert (tmp_path / "onnx" / "mymodel" / "manifest.json").is_file()
