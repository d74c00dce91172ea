"""Real paths a user names as outputs (issue 26, "data loss"): devices, FIFOs, links and folders
that overlap the command's inputs. A writer never replaces what is not a regular file of its
own: a device, a FIFO or a link is written through (or refused in one line), a full device is
exit 3, and an output that is, holds or lies inside an input is refused before anything is
written.

Devices are made with mknod in tmp_path (root, as CI runs), never the machine's own /dev/null:
a regression would otherwise replace the real one.
"""

import hashlib
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import COMMITTED, ROOT
from xdl import artifacts, cli
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, XdlError


# --- a full disk while training writes its weights ----------------------------------------------

def test_a_full_disk_during_training_is_exit_3(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from safetensors import SafetensorError

    from xdl.backends import torch as torch_backend

    def full(*args, **kwargs):  # the error safetensors raises on ENOSPC, word for word
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(torch_backend, "save_file", full)
    code = cli.main(["train", "mlp", "--framework", "torch", "--quick", "--runs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == EXIT_ENVIRONMENT, err
    assert "the disk is full" in err and "unexpected" not in err, err
    assert not (tmp_path / "runs" / "mlp" / "torch").exists()  # nothing was published
