"""Signed artifacts (docs/verdict.md, "Signed artifacts"): `xdl export --sign`, `xdl sign` and
`xdl verify --public-key` through OpenSSF's model-signing, with key pairs made here (offline).

Plain verification proves an artifact self-consistent; these tests show what only a signature
catches (a consistently rewritten artifact, a forged claim in the manifest) and that every change
to a signed folder, a wrong key or a missing signature is a failed verdict (exit 2), decided before
anything in the folder is parsed. They work on copies of the committed mlp artifacts.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import COMMITTED, ROOT
from xdl import artifacts, cli, signing, verify
from xdl.errors import InputError

ms = pytest.importorskip("model_signing", reason="the sign extra: pip install -e '.[sign]'")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")


def _key_pair(folder, name, curve):
    key = ec.generate_private_key(curve)
    pem, pub = folder / f"{name}.pem", folder / f"{name}.pub"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return pem, pub


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    return {"ours": _key_pair(base, "ours", ec.SECP256R1()), "theirs": _key_pair(base, "theirs", ec.SECP384R1())}


def _copy(tmp_path, framework="keras"):
    folder = tmp_path / "mlp" / framework
    shutil.copytree(COMMITTED / "mlp" / framework, folder)
    return folder


@pytest.fixture
def signed(tmp_path, keys):
    """A signed copy of the committed mlp/keras artifact."""
    folder = _copy(tmp_path)
    signing.Signer(keys["ours"][0]).sign_in_place(folder)
    return folder


def _verify(folder, public_key=None):
    signatures = signing.Verifier(public_key) if public_key else None
    return verify.verify_paths([folder], providers=("cpu",), batch_sizes=(2,), signatures=signatures)


def _refused(report, folder, words):
    """The one check of a refused artifact: an error (exit 2), nothing compared, the reason said."""
    assert report.exit_code == 2 and [c.status for c in report.checks] == ["error"], report.checks
    detail = report.checks[0].detail
    assert detail.startswith(str(folder)) and words in detail, detail
    return detail


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


def _rehash(folder):
    """Lists every file's sha256 again in the manifest, as a forger would after a rewrite."""
    manifest = json.loads((folder / artifacts.MANIFEST).read_text())
    for name, entry in manifest["files"].items():
        entry.update(sha256=artifacts.sha256_file(folder / name), bytes=(folder / name).stat().st_size)
    (folder / artifacts.MANIFEST).write_text(artifacts.manifest_text(manifest))


def test_a_signed_artifact_verifies_with_its_key_and_says_so(signed, keys):
    assert (signed / signing.SIGNATURE).is_file()
    report = _verify(signed, keys["ours"][1])
    assert report.exit_code == 0 and report.count("pass") >= 1
    assert all("signature verified" in c.detail for c in report.checks)


def test_without_a_key_a_signature_is_mentioned_not_checked(signed):
    report = _verify(signed)
    assert report.exit_code == 0
    assert all("signature not checked" in c.detail for c in report.checks)


@pytest.mark.parametrize("name", ["model.onnx", "test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb",
                                  "model.weights.h5", "manifest.json"])
def test_one_byte_changed_anywhere_fails(signed, keys, name):
    _flip_last_byte(signed / name)
    detail = _refused(_verify(signed, keys["ours"][1]), signed, "signature check failed")
    assert f"changed since signing: '{name}'" in detail


@pytest.mark.parametrize("name", ["extra.txt", ".gitignore", "test_data_set_0/input_1.pb"])
def test_a_file_added_fails(signed, keys, name):
    (signed / name).write_bytes(b"x")
    assert f"added since signing: '{name}'" in _refused(_verify(signed, keys["ours"][1]), signed, "signature")


def test_a_file_removed_fails(signed, keys):
    (signed / "model.weights.h5").unlink()
    assert "removed since signing: 'model.weights.h5'" in _refused(_verify(signed, keys["ours"][1]), signed, "")


def test_a_symbolic_link_in_a_signed_folder_fails(signed, keys):
    (signed / "link").symlink_to(signed / "model.onnx")
    _refused(_verify(signed, keys["ours"][1]), signed, "symbolic link")


def test_a_consistently_rewritten_artifact_passes_plain_verify_and_fails_with_a_key(signed, keys):
    """What docs/verdict.md says plain verification cannot see: another model, its own outputs as
    the test vectors, the manifest rehashed, and a better accuracy claimed."""
    model = onnx.load_from_string((signed / "model.onnx").read_bytes())
    bias = next(t for t in model.graph.initializer if len(t.dims) == 1 and t.data_type == onnx.TensorProto.FLOAT)
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + np.float32(0.5), bias.name))
    (signed / "model.onnx").write_bytes(model.SerializeToString())
    x = numpy_helper.to_array(onnx.load_tensor(str(signed / "test_data_set_0" / "input_0.pb")))
    y = verify.session((signed / "model.onnx").read_bytes(), "cpu").run(None, {model.graph.input[0].name: x})[0]
    out = onnx.load_tensor(str(signed / "test_data_set_0" / "output_0.pb"))
    assert not np.allclose(y, numpy_helper.to_array(out), atol=1e-3)  # it computes something else
    (signed / "test_data_set_0" / "output_0.pb").write_bytes(numpy_helper.from_array(y, out.name).SerializeToString())
    manifest = json.loads((signed / artifacts.MANIFEST).read_text())
    manifest["metrics"]["test_accuracy"] = 0.999
    (signed / artifacts.MANIFEST).write_text(artifacts.manifest_text(manifest))
    _rehash(signed)
    assert _verify(signed).exit_code == 0  # self-consistent: all plain verify can prove
    detail = _refused(_verify(signed, keys["ours"][1]), signed, "signature check failed")
    assert "'manifest.json'" in detail and "'model.onnx'" in detail


def test_a_signature_by_another_key_fails(signed, keys):
    _refused(_verify(signed, keys["theirs"][1]), signed, "not made with the private key of this public key")


def test_re_signing_with_another_key_after_tampering_fails(signed, keys):
    _flip_last_byte(signed / "test_data_set_0" / "input_0.pb")
    _rehash(signed)
    signing.Signer(keys["theirs"][0]).sign_in_place(signed)
    _refused(_verify(signed, keys["ours"][1]), signed, "not made with the private key")


def test_an_unsigned_artifact_fails_when_a_key_is_given(tmp_path, keys):
    folder = _copy(tmp_path)
    assert _verify(folder).exit_code == 0
    _refused(_verify(folder, keys["ours"][1]), folder, "is unsigned (no model.sig)")


@pytest.mark.parametrize("content", [b"", b"{}", b"not json", b'{"dsseEnvelope": {"payload": "!!"}}'])
def test_a_malformed_signature_fails(signed, keys, content):
    (signed / signing.SIGNATURE).write_bytes(content)
    _refused(_verify(signed, keys["ours"][1]), signed, "signature")


def test_a_signature_that_leaves_files_out_is_refused(signed, keys):
    """Made with the right key, but by model-signing told to skip model.onnx: not a signature of
    the artifact, whatever the key."""
    hashing = ms.hashing.Config().set_ignored_paths(paths=[signing.SIGNATURE, "model.onnx"], ignore_git_paths=False)
    config = ms.signing.Config().use_elliptic_key_signer(private_key=keys["ours"][0]).set_hashing_config(hashing)
    config.sign(signed, signed / signing.SIGNATURE)
    _refused(_verify(signed, keys["ours"][1]), signed, "does not cover every file")


def test_a_manifest_swapped_after_the_signature_check_is_caught(signed, keys):
    """The files are read again after the signature check (artifacts.load): what was parsed must
    be what was signed."""
    signed_check = signing.Verifier(keys["ours"][1]).check(signed)
    manifest = json.loads((signed / artifacts.MANIFEST).read_text())
    manifest["metrics"]["test_accuracy"] = 0.999
    (signed / artifacts.MANIFEST).write_text(artifacts.manifest_text(manifest))
    art = artifacts.load(signed)
    with pytest.raises(signing.SignatureError, match="is not the file that was signed"):
        signed_check.confirm(art)


def test_sign_refuses_a_tampered_artifact_or_a_stray_file(tmp_path, keys):
    folder = _copy(tmp_path)
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="'notes.txt', which its manifest does not list"):
        signing.Signer(keys["ours"][0]).sign_in_place(folder)
    (folder / "notes.txt").unlink()
    _flip_last_byte(folder / "model.onnx")
    with pytest.raises(InputError, match="sha256"):
        signing.Signer(keys["ours"][0]).sign_in_place(folder)
    assert not (folder / signing.SIGNATURE).exists()
    assert [p.name for p in folder.parent.iterdir()] == ["keras"]  # no temporary signature left


# The command line: exit codes and one-line errors.

def _run(capsys, *args):
    code = cli.main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xdl: error:") and "Traceback" not in err, err
    return lines[0]


def test_cli_sign_then_verify(tmp_path, keys, capsys):
    _copy(tmp_path, "keras")
    _copy(tmp_path, "torch")
    code, out, _ = _run(capsys, "sign", tmp_path / "mlp", "--key", keys["ours"][0])
    assert code == 0 and out.count("signed ->") == 2
    code, out, _ = _run(capsys, "verify", tmp_path / "mlp", "--public-key", keys["ours"][1], "--providers", "cpu",
                        "--batch-sizes", "1")
    assert code == 0 and "signature verified" in out
    _flip_last_byte(tmp_path / "mlp" / "torch" / "model.onnx")
    code, out, _ = _run(capsys, "verify", tmp_path / "mlp", "--public-key", keys["ours"][1], "--providers", "cpu",
                        "--batch-sizes", "1")
    assert code == 2 and "changed since signing: 'model.onnx'" in out and "FAILED (exit 2)" in out


def test_cli_unsigned_with_a_key_exits_2(tmp_path, keys, capsys):
    folder = _copy(tmp_path)
    code, out, _ = _run(capsys, "verify", folder, "--public-key", keys["ours"][1], "--providers", "cpu")
    assert code == 2 and "is unsigned" in out


@pytest.mark.parametrize("key", ["missing.pub", "garbage.pub", "ours.pem"])
def test_cli_a_bad_public_key_is_one_line_exit_2(tmp_path, keys, capsys, key):
    (tmp_path / "garbage.pub").write_text("not a key\n")
    path = keys["ours"][0] if key == "ours.pem" else tmp_path / key  # a private key where the public one goes
    code, out, err = _run(capsys, "verify", _copy(tmp_path), "--public-key", path, "--providers", "cpu")
    assert code == 2 and out == ""
    assert "--public-key" in _one_line(err)


@pytest.mark.parametrize("key", ["missing.pem", "garbage.pem", "ours.pub"])
def test_cli_a_bad_private_key_is_one_line_exit_2(tmp_path, keys, capsys, key):
    (tmp_path / "garbage.pem").write_text("not a key\n")
    folder = _copy(tmp_path)
    path = keys["ours"][1] if key == "ours.pub" else tmp_path / key
    code, _, err = _run(capsys, "sign", folder, "--key", path)
    assert code == 2 and "--sign" in _one_line(err)
    assert not (folder / signing.SIGNATURE).exists()


@pytest.mark.parametrize("args", [["verify", "{folder}", "--public-key", "{pub}"], ["sign", "{folder}", "--key", "{pem}"],
                                  ["export", "mlp", "--sign", "{pem}"]])
def test_cli_without_the_sign_extra_exits_3_with_the_install_command(tmp_path, keys, capsys, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "model_signing", None)  # what `import` finds when it is not installed
    values = {"folder": _copy(tmp_path), "pem": keys["ours"][0], "pub": keys["ours"][1]}
    code, _, err = _run(capsys, *(a.format(**values) for a in args))
    assert code == 3 and "pip install 'xdl[sign]'" in _one_line(err)


def test_cli_live_with_a_key_refuses_unsigned_artifacts_before_loading_weights(tmp_path, keys, capsys):
    _copy(tmp_path, "keras")
    _copy(tmp_path, "torch")
    code, out, _ = _run(capsys, "verify", "--out", tmp_path, "--live", "mlp", "--public-key", keys["ours"][1],
                        "--providers", "cpu")
    assert code == 2 and out.count("is unsigned") == 4  # the stored checks and the live ones


def test_plain_verify_does_not_import_model_signing():
    code = ("import sys, contextlib, io\nfrom xdl import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    code = cli.main(['verify', 'exported_models/mlp/keras', '--providers', 'cpu', '--batch-sizes', '1'])\n"
            "print(code, 'model_signing' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.stdout.split() == ["0", "False"], r.stdout + r.stderr


def test_export_sign_publishes_the_signature_with_the_artifact(tmp_path, keys):
    """`xdl export --sign`: the signature is made in the staging folder and published with it.
    The run is the committed mlp/torch weights and their provenance (no training)."""
    run = tmp_path / "runs" / "mlp" / "torch"
    run.mkdir(parents=True)
    shutil.copyfile(COMMITTED / "mlp" / "torch" / "model.safetensors", run / "model.safetensors")
    manifest = artifacts.read_manifest(COMMITTED / "mlp" / "torch")
    metrics = {k: getattr(manifest, k) for k in ("dataset", "data_source", "seed", "weights_sha256")}
    (run / "metrics.json").write_text(json.dumps({**metrics, **manifest.metrics}))
    r = subprocess.run([sys.executable, "-m", "xdl", "export", "mlp", "--framework", "torch", "--runs",
                        tmp_path / "runs", "--out", tmp_path / "out", "--sign", keys["ours"][0]],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0 and "(signed)" in r.stdout, r.stdout + r.stderr
    folder = tmp_path / "out" / "mlp" / "torch"
    assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name or ".sig-" in p.name]  # nothing staged left
    assert _verify(folder, keys["ours"][1]).exit_code == 0
    assert signing.SIGNATURE not in artifacts.read_manifest(folder).files  # it covers the manifest, not vice versa


def test_cli_sign_signs_nothing_when_one_artifact_is_tampered(tmp_path, keys, capsys):
    _copy(tmp_path, "keras")
    _flip_last_byte(_copy(tmp_path, "torch") / "test_data_set_0" / "input_0.pb")
    code, out, err = _run(capsys, "sign", tmp_path / "mlp", "--key", keys["ours"][0])
    assert code == 2 and out == "" and "input_0.pb does not match its sha256" in _one_line(err)
    assert not list(tmp_path.rglob(signing.SIGNATURE))


def test_export_refresh_sign_signs_the_refreshed_artifact(tmp_path, keys):
    folder = _copy(tmp_path / "out", "torch")
    r = subprocess.run([sys.executable, "-m", "xdl", "export", "--refresh", "mlp", "--out", tmp_path / "out", "--sign",
                        keys["ours"][0]], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0 and "refreshed" in r.stdout and "(signed)" in r.stdout, r.stdout + r.stderr
    assert _verify(folder, keys["ours"][1]).exit_code == 0


def test_sign_refuses_a_model_sig_that_is_a_link(tmp_path, keys):
    folder = _copy(tmp_path)
    (folder / signing.SIGNATURE).symlink_to(tmp_path / "elsewhere.sig")
    with pytest.raises(InputError, match="model.sig is not a regular file"):
        signing.Signer(keys["ours"][0]).sign_in_place(folder)
    assert not (tmp_path / "elsewhere.sig").exists()


def test_a_fifo_in_a_signed_folder_fails_without_being_opened(signed, keys):
    os.mkfifo(signed / "pipe")  # opening it to read would wait for a writer forever
    _refused(_verify(signed, keys["ours"][1]), signed, "special file")


def test_a_model_sig_that_is_a_link_fails(tmp_path, signed, keys):
    (signed / signing.SIGNATURE).rename(tmp_path / "real.sig")
    (signed / signing.SIGNATURE).symlink_to(tmp_path / "real.sig")
    _refused(_verify(signed, keys["ours"][1]), signed, "not a regular file")


def test_model_signing_warnings_do_not_break_a_json_report_on_stdout(signed, keys, capsys):
    """model-signing prints a warning on stdout for a signature without its key hint (which the
    signature does not cover, so it may be dropped): stdout must stay the report."""
    bundle = json.loads((signed / signing.SIGNATURE).read_text())
    del bundle["verificationMaterial"]["publicKey"]["hint"]
    (signed / signing.SIGNATURE).write_text(json.dumps(bundle))
    code, out, _ = _run(capsys, "verify", signed, "--public-key", keys["ours"][1], "--providers", "cpu",
                        "--batch-sizes", "1", "--report", "json")
    assert code == 0 and json.loads(out)["exit_code"] == 0
