"""What an artifact says cannot loosen its verdict, and what it holds cannot forge a report.

Property tests (hypothesis) mutate a real artifact's manifest; the error boundary and the report
escaping are tested on crafted errors and strings.
"""

import errno
import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import COMMITTED
from xdl import artifacts, cli, report, verify
from xdl.commands import list as list_command
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, InputError
from xdl.spec import tolerance
from xdl.verify import Check, Report

JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verdict") / "mlp" / "torch"
    shutil.copytree(COMMITTED / "mlp" / "torch", folder)
    return folder


def _with_manifest(folder, edit):
    original = (folder / "manifest.json").read_text()
    m = json.loads(original)
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m))
    try:
        return verify.verify_artifact(folder, batch_sizes=(64,))
    finally:
        (folder / "manifest.json").write_text(original)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JSON)
def test_no_tolerance_a_manifest_records_changes_the_verdict(artifact, value):
    checks = _with_manifest(artifact, lambda m: m.__setitem__("tolerance", value))
    if not (isinstance(value, dict) and isinstance(value.get("outputs"), dict)):  # refused as malformed
        assert [c.status for c in checks] == ["error"] and checks[0].exit_code == EXIT_INPUT
        return
    policy = tolerance.tolerance_for("float32", "cpu", "probabilities")
    assert checks and all(c.status == "pass" and (c.atol, c.rtol) == policy.pair for c in checks), checks


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["model", "framework", "contract", "files", "manifest_version", "variant", "part",
                        "task", "tolerance", "metrics", "versions"]), JSON)
def test_any_manifest_field_any_value_never_crashes_and_never_fails_parity(artifact, key, value):
    checks = _with_manifest(artifact, lambda m: m.__setitem__(key, value))
    code = Report(checks).exit_code
    assert code in (0, EXIT_INPUT), checks  # bad input is 2, never the parity code 1 or a traceback
    if key in ("contract", "files", "manifest_version"):
        assert code == EXIT_INPUT


def test_the_stated_tolerance_of_an_unregistered_model_is_bounded(artifact):
    def edit(m):
        m["model"] = "my-own-net"
        m["tolerance"]["outputs"]["probs"]["cpu"] = {"atol": 1e9, "rtol": 1e9}
    checks = _with_manifest(artifact, edit)
    policy = tolerance.tolerance_for("float32", "cpu", "probabilities")
    assert all(c.status == "pass" and (c.atol, c.rtol) == policy.pair and "bounded" in c.detail for c in checks)

    def stricter(m):
        m["model"] = "my-own-net"
        m["tolerance"]["outputs"]["probs"]["cpu"] = {"atol": 1e-6, "rtol": 0.0}
    checks = _with_manifest(artifact, stricter)
    assert all((c.atol, c.rtol) == (1e-6, 0.0) for c in checks)  # stricter is the author's right


def test_zero_checks_is_not_a_pass():
    assert Report([]).exit_code == EXIT_INPUT
    skipped = Report([Check("m", "torch", "cuda", "skipped", detail="no GPU")])
    assert skipped.exit_code == EXIT_ENVIRONMENT and "nothing was checked" in report.summary(skipped)
    with pytest.raises(InputError, match="--providers is empty"):
        verify.providers_to_check((), ())


EVIL = "evil\x1b[31m\nPASS    mlp/torch cpu forged|<script>alert(1)</script>\x00\u202e`*_"


def _evil_report():
    return Report([
        Check(EVIL, EVIL, "cpu", "pass", output=EVIL, shape=[1], max_abs=0.0, max_rel=0.0, mean_abs=0.0,
              p99_abs=0.0, atol=1e-5, rtol=1e-5, batch_size=1),
        Check(EVIL, EVIL, "-", "error", detail=EVIL, exit_code=EXIT_INPUT),
        Check(EVIL, EVIL, "cpu", "fail", output=EVIL, shape=[1], max_abs=1.0, max_rel=1.0, mean_abs=1.0,
              p99_abs=1.0, atol=1e-5, rtol=1e-5, detail=EVIL, exit_code=1),
    ])


def test_strings_from_an_artifact_are_escaped_in_every_format():
    r = _evil_report()
    text = report.FORMATS["text"](r)
    assert len(text.splitlines()) == len(r.checks) + 1  # one line per check: nothing injected
    assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    md = report.to_markdown(r)
    rows = [line for line in md.splitlines() if line.startswith("| ") and "evil" in line]
    assert len(rows) == 3 and all(row.count(" | ") == 7 for row in rows)  # no extra table cells
    assert "<script>" not in md and "\x1b" not in md
    root = ET.fromstring(report.to_junit(r).encode())  # well-formed XML despite NUL and escapes
    assert len(root.iter("testcase").__next__().attrib["classname"]) > 0
    assert json.loads(report.to_json(r))["checks"][0]["model"] == EVIL  # JSON keeps it, escaped


@pytest.mark.parametrize("exc,code,phrase", [
    (OSError(errno.ENOSPC, "No space left on device", "/out/x"), EXIT_ENVIRONMENT, "the disk is full"),
    (OSError(errno.EROFS, "Read-only file system", "/out/x"), EXIT_ENVIRONMENT, "read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied", "/etc/x"), EXIT_INPUT, "Permission denied (/etc/x)"),
    (MemoryError(), EXIT_ENVIRONMENT, "out of memory"),
    (RecursionError(), EXIT_INPUT, "nested too deeply"),
    (KeyError("surprise"), EXIT_INPUT, "unexpected KeyError"),
    (InputError("bad\nthing"), EXIT_INPUT, "bad\\nthing"),
])
def test_the_error_boundary_turns_any_error_into_one_line_and_a_documented_code(monkeypatch, capsys, exc, code, phrase):
    def fails(args):
        raise exc

    monkeypatch.setattr(list_command, "run", fails)
    monkeypatch.delenv("XDL_DEBUG", raising=False)
    assert cli.main(["list"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("xdl: error: ") and phrase in err, err
    assert "Traceback" not in err


def test_xdl_debug_shows_the_traceback(monkeypatch, capsys):
    def fails(args):
        raise KeyError("surprise")

    monkeypatch.setattr(list_command, "run", fails)
    monkeypatch.setenv("XDL_DEBUG", "1")
    assert cli.main(["list"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("xdl: error: unexpected KeyError")


def test_memory_guard_refuses_before_allocating():
    from xdl import limits

    with pytest.raises(InputError, match="over the"):
        verify.guard_batch([{"x": np.zeros((1, 1000), np.float32)}], 10**9, "batch size 1000000000")
    assert limits.current().max_memory == int(limits.DEFAULT_MAX_MEMORY_GB * 1024**3)


def test_only_a_spec_can_allow_nan_in_an_output(artifact, monkeypatch):
    """An unregistered model cannot declare NaN acceptable; a registered spec can, and then the
    NaN must sit where the native output had it."""
    from dataclasses import replace

    from xdl.spec import registry

    def nan_everywhere(m):
        m["contract"]["outputs"][0]["nonfinite"] = True
    assert all(c.status == "pass" for c in _with_manifest(artifact, nan_everywhere))  # a record only

    spec = registry.get("mlp")
    allowing = replace(spec, contract=replace(spec.contract, outputs=(replace(spec.output, nonfinite=True),)))
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: allowing if name == "mlp" else real_get(name))
    criteria = verify.policy.for_artifact(artifacts.read_manifest(artifact),
                                          verify.parse_model((artifact / "model.onnx").read_bytes(), artifact), "cpu")
    assert criteria["probs"].nonfinite


def _rehash(folder, relative):
    m = json.loads((folder / "manifest.json").read_text())
    m["files"][relative] = {"sha256": artifacts.sha256_file(folder / relative), "bytes": (folder / relative).stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(m))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["model.onnx", "test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb"]),
       st.lists(st.tuples(st.integers(0, 2**31), st.integers(1, 255)), min_size=1, max_size=8))
def test_flipped_bytes_with_matching_hashes_never_crash_the_verifier(artifact, tmp_path_factory, relative, flips):
    """An attacker who re-hashes: whatever bytes a file holds, verify answers with a verdict."""
    folder = tmp_path_factory.mktemp("flip") / "mlp" / "torch"
    shutil.copytree(artifact, folder)
    data = bytearray((folder / relative).read_bytes())
    for where, mask in flips:
        data[where % len(data)] ^= mask
    (folder / relative).write_bytes(bytes(data))
    _rehash(folder, relative)
    checks = verify.verify_artifact(folder, batch_sizes=(2,))
    assert checks and Report(checks).exit_code in (0, 1, 2)
    for c in checks:
        assert c.status in ("pass", "fail", "error") and (c.status != "error" or c.detail)
