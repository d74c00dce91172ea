"""Signed artifact folders: OpenSSF's model-signing (the `sign` extra) with an elliptic-curve key
pair, offline (no Sigstore account, no network).

`xdl verify` alone proves an artifact self-consistent: its files match the sha256s its manifest
lists. Whoever can write the folder can rewrite the model, the test vectors and the manifest
together, and that passes. A signature moves the trust to a key: model.sig, a Sigstore bundle
(a DSSE envelope around an in-toto statement) inside the folder, lists every file with its sha256,
and only the holder of the private key can make one that the public key accepts.

A signature covers every regular file under the folder but model.sig itself, manifest.json and
git's files (.gitignore...) included (model-signing leaves the latter out by default): a file
added, removed or changed after signing fails. Symbolic links and special files fail. An empty
folder added is not seen (model-signing lists files only); nothing reads one.

model_signing is imported only when a key is given: plain `xdl verify` does not need the extra.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xdl import artifacts
from xdl.errors import InputError, first_line, require

SIGNATURE = "model.sig"
EXTRA = "sign"
MAX_SIGNATURE_BYTES = 1024**2  # one sha256 per file: ours hold a few KiB
KEY_HELP = "docs/verdict.md (Signed artifacts) shows how to make a key pair"


class SignatureError(InputError):
    """A signature is missing, malformed, from another key, or does not match the files (exit 2,
    like any tampered artifact)."""


def _library():
    return require("model_signing", EXTRA)


def _hashing(ms):
    # a fresh config each time: model-signing's verify adds the signature's ignore paths to the
    # config it is given, and they must not carry over to the next artifact
    return ms.hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)


def _key_bytes(path: Path, flag: str) -> bytes:
    try:
        if not path.is_file():
            raise InputError(f"{flag} {path} is missing or not a regular file; {KEY_HELP}")
        if path.stat().st_size > 64 * 1024:
            raise InputError(f"{flag} {path} is larger than 64 KiB: not a PEM key; {KEY_HELP}")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{flag} {path} cannot be read ({exc.strerror}); check its permissions") from None


@contextlib.contextmanager
def _private_copy(name: str, data: bytes):
    """A file holding `data` in a folder only this process can write: what model-signing reads is
    what xdl read, once (the original may change in between)."""
    with tempfile.TemporaryDirectory(prefix="xdl-sign-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        yield path


def _why(exc: Exception) -> str:
    """cryptography's complaint about a key, its first sentence only (the rest is a link)."""
    return first_line(exc, 300).split(". ")[0].rstrip(".")


def _quoted(names) -> str:
    return ", ".join(ascii(n) for n in sorted(names))


class Signer:
    """Signs artifact folders with one private key: PEM, unencrypted, P-256, P-384 or P-521.

    Raises:
        EnvironmentProblem: model-signing is not installed (exit 3, naming the extra).
        InputError: the key file is missing, unreadable or not such a key.
    """

    def __init__(self, key: str | Path):
        self.ms = _library()
        self.key = Path(key)
        data = _key_bytes(self.key, "--sign")
        with _private_copy("key.pem", data) as copy:
            try:
                self.config = self.ms.signing.Config().use_elliptic_key_signer(private_key=copy)
            except Exception as exc:  # noqa: BLE001 - cryptography's ValueError, TypeError, UnsupportedAlgorithm...
                raise InputError(f"--sign {self.key} is not an unencrypted PEM elliptic-curve private key "
                                 f"(P-256, P-384, P-521): {_why(exc)}; {KEY_HELP}") from None

    def write(self, folder: Path, signature: Path | None = None) -> Path:
        """Signs every file of `folder` (but model.sig) into `signature` (default: folder/model.sig).
        artifacts.write calls it on its staging folder, before the folder is published."""
        signature = signature or folder / SIGNATURE
        self.config.set_hashing_config(_hashing(self.ms)).sign(folder, signature)
        return signature

    __call__ = write

    def sign_in_place(self, folder: Path) -> Path:
        """Signs a published artifact folder after checking it is whole (see signable); model.sig
        is replaced atomically.

        Raises:
            InputError: the artifact is tampered, unreadable, or holds unlisted files.
        """
        folder = Path(folder)
        signable(folder)
        # a sibling, not inside the folder: the signature must not cover its own temporary file
        tmp = folder.with_name(f".{folder.name}.sig-{os.getpid()}")
        try:
            self.write(folder, tmp)
            os.replace(tmp, folder / SIGNATURE)
        finally:
            if tmp.exists():
                tmp.unlink()
        return folder / SIGNATURE


def signable(folder: Path) -> None:
    """Checks that an artifact may be signed: every listed file matches its sha256, the manifest is
    as xdl writes it, and the folder holds nothing the manifest does not list (a signature must not
    bless a tampered artifact or a stray file).

    Raises:
        InputError: it may not, and why.
    """
    art = artifacts.load(folder)
    listed = {*art.manifest.files, artifacts.MANIFEST, SIGNATURE}
    stray = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir() or p.is_symlink()}
    if stray - listed:
        raise InputError(f"{folder} holds {_quoted(stray - listed)}, which its manifest does not list; "
                         f"remove it or re-export, then sign")
    old = folder / SIGNATURE
    if os.path.lexists(old) and not stat.S_ISREG(old.lstat().st_mode):
        raise InputError(f"{old} is not a regular file (a link, a folder or a device); remove it, then sign")
    if art.manifest_bytes != art.manifest.to_json().encode():
        raise InputError(f"{folder / artifacts.MANIFEST} is not as xdl writes it; re-export "
                         f"(`xdl export refresh`), then sign")


def is_signed(folder: Path) -> bool:
    return os.path.lexists(Path(folder) / SIGNATURE)


def unchecked_note(folder: Path) -> str:
    """What a report says about a signature it was not asked to check ("" when there is none)."""
    return f"signed ({SIGNATURE}), signature not checked: pass --public-key" if is_signed(folder) else ""


@dataclass
class Signed:
    """A folder whose signature passed: the sha256 of each file the key holder signed."""

    folder: Path
    digests: dict[str, str]
    key: Path

    @property
    def note(self) -> str:
        return f"signature verified ({SIGNATURE}, key {self.key.name})"

    def confirm(self, art) -> None:
        """Checks that the manifest and model an artifacts.load read (and hashed, and will run)
        are the signed bytes: a file swapped between the signature check and the read would
        otherwise run unsigned. The test vectors and weights are bound through the manifest's
        sha256s, which load checked against the very bytes it kept.

        Raises:
            SignatureError: either differs from what was signed.
        """
        for name, data in ((artifacts.MANIFEST, art.manifest_bytes), (artifacts.MODEL_FILE, art.model_bytes)):
            if hashlib.sha256(data).hexdigest() != self.digests.get(name):
                raise SignatureError(f"{self.folder / name} is not the file that was signed (it changed while "
                                     f"being verified); verify again, or re-sign")


class Verifier:
    """Checks artifact folders' signatures against one public key (PEM, elliptic curve).

    Raises:
        EnvironmentProblem: model-signing is not installed (exit 3, naming the extra).
        InputError: the key file is missing, unreadable or not such a key.
    """

    def __init__(self, public_key: str | Path):
        self.ms = _library()
        self.key = Path(public_key)
        self.key_bytes = _key_bytes(self.key, "--public-key")
        try:
            self._config()
        except Exception as exc:  # noqa: BLE001 - cryptography's ValueError, UnsupportedAlgorithm...
            raise InputError(f"--public-key {self.key} is not a PEM elliptic-curve public key (P-256, P-384, "
                             f"P-521): {_why(exc)}; pass the .pub of the pair that signed") from None

    def _config(self):
        with _private_copy("key.pub", self.key_bytes) as copy:
            return self.ms.verifying.Config().use_elliptic_key_verifier(public_key=copy).set_hashing_config(
                _hashing(self.ms))

    def check(self, folder: Path) -> Signed:
        """Checks folder/model.sig against the key and every file of the folder, before anything
        in the folder is parsed. A folder without one fails: a key given means signatures are
        required.

        Raises:
            SignatureError: unsigned, malformed, another key, or files that differ from the signed ones.
        """
        folder = Path(folder)
        path = folder / SIGNATURE
        if not os.path.lexists(path):
            raise SignatureError(f"{folder} is unsigned (no {SIGNATURE}) and --public-key requires a signature; "
                                 f"sign it (`xdl sign PATH --key KEY`) or verify without --public-key")
        data = _signature_bytes(path)
        with _private_copy(SIGNATURE, data) as copy:
            try:
                # model-signing prints warnings on stdout, where a report may be going
                with contextlib.redirect_stdout(io.StringIO()):
                    self._config().verify(folder, copy)
            except Exception as exc:  # noqa: BLE001 - whatever failed, the signature did not pass
                raise SignatureError(f"{folder}: signature check failed: {_reason(exc, folder, data)}") from None
        return Signed(folder, _signed_digests(data, path), self.key)


def _signature_bytes(path: Path) -> bytes:
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            raise SignatureError(f"{path} is not a regular file (a link or a device); re-sign the artifact")
        if st.st_size > MAX_SIGNATURE_BYTES:
            raise SignatureError(f"{path} is larger than {MAX_SIGNATURE_BYTES // 1024} KiB: not a signature xdl makes")
        return path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"{path} cannot be read ({exc.strerror}); check its permissions") from None


def _reason(exc: Exception, folder: Path, data: bytes) -> str:
    """Why model-signing refused, as one line a person can act on."""
    text = str(exc)
    if text.startswith("Signature mismatch"):  # the signature itself passed: its file list is the key holder's
        return _differences(folder, data)
    if type(exc).__name__ == "InvalidSignature" or text.startswith("Key mismatch"):
        return "it was not made with the private key of this public key (another key, or model.sig was altered)"
    if "symlink" in text or "special file" in text:
        return f"the folder holds a symbolic link or a special file ({first_line(exc, 160)})"
    return f"{SIGNATURE} is not a signature xdl can read ({type(exc).__name__}: {first_line(exc, 160)})"


def _differences(folder: Path, data: bytes) -> str:
    """Which files were added, removed or changed since signing (for the message only: the
    verdict is already a failure)."""
    signed = _payload(data, folder / SIGNATURE)[1]
    present = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    present.pop(SIGNATURE, None)
    changed = [n for n in present.keys() & signed.keys() if artifacts.sha256_file(present[n]) != signed[n]]
    parts = [f"{kind} since signing: {_quoted(names)}" for kind, names in (
        ("added", present.keys() - signed.keys()), ("removed", signed.keys() - present.keys()), ("changed", changed))
        if names]
    return "; ".join(parts) or "the files differ from the signed ones"


def _payload(data: bytes, path: Path) -> tuple[dict, dict[str, str]]:
    """(how the files were hashed, file -> sha256) from a signature's statement."""
    try:
        envelope = json.loads(data)["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        predicate = statement["predicate"]
        digests = {r["name"]: r["digest"] for r in predicate["resources"] if r["algorithm"] == "sha256"}
        return dict(predicate["serialization"]), digests
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"{path} is not a signature xdl makes ({type(exc).__name__}); re-sign") from None


def _signed_digests(data: bytes, path: Path) -> dict[str, str]:
    """The file -> sha256 list of a signature that passed, after checking it covers every file
    (only model.sig left out, links refused): a signature its key holder made another way,
    leaving files out, is refused."""
    how, digests = _payload(data, path)
    covers_all = (how.get("method") == "files" and how.get("hash_type") == "sha256"
                  and how.get("allow_symlinks") is False and how.get("ignore_paths") == [SIGNATURE])
    if not covers_all:
        raise SignatureError(f"{path} does not cover every file of the artifact (it was made with other "
                             f"settings: {ascii(how)[:120]}); re-sign with `xdl sign`")
    return digests


def sign_paths(paths, key: str | Path):
    """Signs every artifact at or under `paths` in place, yielding (folder, its model.sig). All are
    checked before the first is signed: one tampered artifact leaves every signature as it was.

    Raises:
        EnvironmentProblem: model-signing is not installed.
        InputError: a bad key, a path without artifacts, an artifact that may not be signed (signable).
    """
    signer = Signer(key)
    folders = artifacts.find(paths)
    for folder in folders:
        signable(folder)
    for folder in folders:
        yield folder, signer.sign_in_place(folder)
