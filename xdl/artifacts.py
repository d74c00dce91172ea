"""Exported artifacts on disk: exported_models/<model>/<framework>/.

A folder holds
    model.onnx                 the exported graph, on the model's contract
    test_data_set_0/*.pb       a fixed batch of real test samples and the native framework's
                               outputs (ONNX model-zoo format, onnx.numpy_helper TensorProtos)
    model.weights.h5 | model.safetensors
                               the native weights the export came from (no pickle)
    manifest.json              sha256 and size of every file, the contract, the tolerance,
                               versions, metrics and provenance

Writing is atomic at the folder level: everything goes into a hidden sibling folder, which
then trades places with the old one in a single rename (see publish), so a reader always sees a
whole old or a whole new version, and an interrupted export leaves the previous one whole. Reading checks every file's size and sha256 before anything is parsed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from stat import S_ISREG

import numpy as np
import onnx
from onnx import numpy_helper

from xdl.errors import EnvironmentProblem, InputError, XdlError, first_line
from xdl.manifest import MANIFEST_VERSION, FileEntry, Manifest
from xdl.spec import tasks

MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
TEST_DIR = "test_data_set_0"
MAX_FILE_BYTES = 2 * 1024**3  # protobuf's own limit; a bigger "model.onnx" is not ours
MAX_MANIFEST_BYTES = 16 * 1024**2  # ours are a few KiB


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text(path: str | Path, text: str, what: str = "the file") -> Path:
    """Writes a text file the user named (a report, JSON, Markdown, an index page): see write_output."""
    return write_output(path, text.encode(), what=what)


def write_output(path: str | Path, content: bytes | Callable[[Path], object], *, what: str = "the file",
                 suffix: str = "") -> Path:
    """Writes a file the user named: never into an artifact folder, never replacing what is not a
    regular file. `content` is bytes, or a function that writes the file at the path it is given
    (a library's save function; `suffix` is the ending that library insists on, if any).

    - nothing there yet, or a regular file: written to a temporary file beside it, then renamed
      over it, so that a reader never sees half a file;
    - a character device (/dev/null, /dev/full, a terminal), a FIFO, or a symbolic link (such as
      /dev/stdout): opened and written in place, as a shell's `>` does; nothing is renamed over
      it, so the device, the pipe or the link stays what it was. A FIFO that no process reads is
      refused at once rather than waited on (start its reader first);
    - the file this process's stdout or stderr goes to (/dev/stdout, a redirect): written through
      that descriptor, after what was printed;
    - a folder, a block device (a disk) or a socket: refused.

    Raises:
        InputError: the path is refused (inside an artifact, a folder, a disk, a FIFO nobody
            reads) or cannot be written (permissions, a missing parent that is a file...).
        EnvironmentProblem: the disk is full or read-only.
    """
    import stat

    path = Path(path)
    check_output(path, what)
    try:
        st = os.stat(path) if os.path.exists(path) else None  # None also for a link to nothing yet
        stream = _our_stream(st)
        if stream is not None:
            _write_stream(stream, content, suffix)
        elif os.path.islink(path) or (st is not None and not stat.S_ISREG(st.st_mode)):
            _write_through(path, content, suffix)
        else:
            _write_replacing(path, content, suffix)
    except OSError as exc:
        raise write_failed(exc, path, what) from None
    return path


def check_output(path: str | Path, what: str = "the file") -> None:
    """Refuses an output path that write_output would refuse (inside an artifact, a folder, a
    disk, a socket): callers ask before a long run rather than after it.

    Raises:
        InputError: the path is refused.
    """
    import stat

    real = Path(os.path.realpath(path))  # links followed: a link into an artifact is still inside it
    inside = next((p for p in real.parents if (p / MANIFEST).is_file()), None)
    if inside is not None:  # a report over a manifest or a test vector would break the artifact it judged
        raise InputError(f"cannot write {what} to {path}: that is inside the artifact {inside}; write it elsewhere")
    try:
        mode = os.stat(path).st_mode
    except NotADirectoryError:  # a folder on the way is a file: no write can succeed
        above = next(p for p in Path(path).parents if p.exists())
        raise InputError(f"cannot write {what} to {path}: {above} is a file, not a folder; choose a writable path")
    except OSError:
        return  # nothing there yet (or unreadable: the write will say why)
    refused = {stat.S_ISDIR: "a folder; name a file in it", stat.S_ISBLK: "a block device (a disk); xdl does not "
               "write onto disks", stat.S_ISSOCK: "a socket; name a file, a device or a FIFO"}
    for test, why in refused.items():
        if test(mode):
            raise InputError(f"cannot write {what} to {path}: it is {why}")


def _our_stream(st: os.stat_result | None) -> int | None:
    """1 or 2 when the path is the file our stdout or stderr already writes to (/dev/stdout, the
    terminal, the file the shell redirected to): a second opening of it would have an offset of
    its own and write over what is printed, so the write goes through that descriptor."""
    for fd in (1, 2):
        try:
            own = os.fstat(fd)
        except OSError:
            continue
        if st is not None and (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino):
            return fd
    return None


def _write_stream(fd: int, content, suffix: str) -> None:
    import sys

    data = _produced(content, suffix)
    (sys.stdout if fd == 1 else sys.stderr).flush()  # what was printed comes first
    _write_all(fd, data)


def _produced(content, suffix: str) -> bytes:
    """The bytes to write: `content`, or what a library's save function writes into a private
    temporary file (made before the target is opened, so a failing save truncates nothing)."""
    if not callable(content):
        return content
    import tempfile

    with tempfile.TemporaryDirectory(prefix="xdl-output-") as private:
        tmp = Path(private) / f"output{suffix}"
        content(tmp)
        return tmp.read_bytes()


def _write_replacing(path: Path, content, suffix: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name if path.name.endswith(suffix) else path.name + suffix
    tmp = path.with_name(f".tmp-{os.getpid()}-{name}")  # one per writer: two never share it
    try:
        if callable(content):
            content(tmp)
        else:
            tmp.write_bytes(content)
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # a full disk or Ctrl-C mid-write: nothing half-written stays behind
            tmp.unlink()


def _write_through(path: Path, content, suffix: str) -> None:
    """Opens `path` (following a link) and writes in place: for devices, FIFOs and links, whose
    nature a rename would destroy."""
    data = _produced(content, suffix)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o644)  # O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of waiting
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InputError(f"no process is reading the FIFO {path}; start its reader first (e.g. `cat {path} &`), "
                             f"then run again") from None
        raise
    try:
        try:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)  # a slow reader is waited on
        except ImportError:
            pass
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_failed(exc: OSError, path: Path, what: str) -> XdlError:
    """One line for a failed write: a full or read-only disk is the environment (exit 3)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return EnvironmentProblem(f"cannot write {what} to {path}: the disk is full; free space or write elsewhere")
    if exc.errno == errno.EROFS:
        return EnvironmentProblem(f"cannot write {what} to {path}: read-only file system; write elsewhere")
    if exc.errno == errno.EPIPE:
        return InputError(f"cannot write {what} to {path}: its reader closed it before everything was written")
    return InputError(f"cannot write {what} to {path}: {exc.strerror or first_line(exc)}; choose a writable path")


def overlap(output: str | Path, output_flag: str, inputs: dict[str, str | Path]) -> None:
    """Refuses an output that is one of the command's inputs, lies inside one or holds one, before
    anything is written. Paths are compared as real paths: links followed, and a path that does
    not exist yet by its nearest existing parent (os.path.realpath does both).

    Raises:
        InputError: they overlap; `output_flag` and the inputs' keys name the options to change.
    """
    out = Path(os.path.realpath(output))
    for flag, given in inputs.items():
        other = Path(os.path.realpath(given))
        if out == other or other in out.parents or out in other.parents:
            where = "is" if out == other else "is inside" if other in out.parents else "holds"
            raise InputError(f"{output_flag} {output} {where} {flag} {given}: writing it would replace what this "
                             f"command reads; choose separate folders")


def holding_artifact(folder: str | Path) -> Path | None:
    """The artifact folder (one holding a manifest.json) that `folder` is, lies inside, or holds
    at any depth; None if there is none. Links are followed."""
    real = Path(os.path.realpath(folder))
    for p in (real, *real.parents):
        if (p / MANIFEST).is_file():
            return p
    for here, _, files in os.walk(real):
        if MANIFEST in files:
            return Path(here)
    return None


def manifest_text(manifest: Manifest | dict) -> str:
    """manifest.json's text as xdl writes it (Manifest.to_json; a dict in the same form)."""
    if isinstance(manifest, Manifest):
        return manifest.to_json()
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staging(folder: Path) -> Path:
    """A new, empty hidden sibling of `folder` to build its next version in (see publish).
    Staging folders left by writers that died (their process is gone) are removed first."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def remove_stale(folder: Path) -> None:
    """Removes the staging folders of `folder` whose writers died (their process is gone)."""
    folder = Path(folder)
    for stale in (*folder.parent.glob(f".{folder.name}.tmp-*"), *folder.parent.glob(f".{folder.name}.old-*")):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def publish(tmp: Path, folder: Path) -> Path:
    """Makes the staged folder `tmp` the new `folder`, atomically for readers and one writer at
    a time: under a lock file, the two folders trade places in one renameat2(RENAME_EXCHANGE)
    call, so there is no moment at which neither version exists, then the old one is deleted.
    Where the exchange is unavailable (not Linux), the old folder is renamed away and the new
    one in, and put back if that fails; a reader may then see the folder missing for a moment."""
    tmp, folder = Path(tmp), Path(folder)
    with _locked(folder):
        replaceable(folder, next((m for m in MARKERS if (tmp / m).is_file()), None))
        if not os.path.lexists(folder):
            os.rename(tmp, folder)
            return folder
        if _exchange(tmp, folder):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old version
            return folder
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.rename(folder, old)
        try:
            os.rename(tmp, folder)
        except BaseException:
            os.rename(old, folder)
            raise
        shutil.rmtree(old, ignore_errors=True)
    return folder


MARKERS = (MANIFEST, "metrics.json")  # the file that makes a folder an artifact, a training run


def replaceable(folder: str | Path, marker: str | None, flag: str = "--out, --runs") -> None:
    """Refuses to replace what xdl did not write: `folder` may be missing, an empty folder, or a
    folder holding `marker` (manifest.json for an artifact, metrics.json for a run); never a
    link, a file or a device, and never a folder inside an artifact. Called before anything is
    written and again by publish. `flag` names the option(s) that choose the folder, for the
    advice.

    Raises:
        InputError: any other thing is there.
    """
    import stat

    folder = Path(folder)
    inside = next((p for p in Path(os.path.realpath(folder)).parents if (p / MANIFEST).is_file()), None)
    if inside is not None:
        raise InputError(f"{folder} is inside the artifact {inside}; write elsewhere ({flag})")
    if not os.path.lexists(folder):
        return
    mode = os.lstat(folder).st_mode
    if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a folder"
        raise InputError(f"{folder} is {kind}; xdl replaces only folders it wrote: move it away or write elsewhere")
    if marker is not None and not (folder / marker).is_file() and any(os.scandir(folder)):
        raise InputError(f"{folder} holds files xdl did not write (it has no {marker}); xdl would replace the "
                         f"whole folder: move them away or write elsewhere")


class _locked:
    """An exclusive flock on a hidden `.<name>.lock` beside `folder`, removed again on release so
    that no lock file stays beside the folder (where `git add` would pick it up); a no-op where
    fcntl does not exist.

    Removing a lock file is safe only with a check on taking it: a writer that opened the file
    before its holder removed it gets the lock on a file no longer at the path, so it takes the
    lock again on the path's file (one the next writer made) until the two are the same file."""

    def __init__(self, folder: Path):
        self.path = folder.with_name(f".{folder.name}.lock")

    def __enter__(self):
        try:
            import fcntl
        except ImportError:
            self.fd = None
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held, named = os.fstat(fd), os.stat(self.path)
            except FileNotFoundError:  # its holder removed it while this one waited
                named = None
            except BaseException:  # Ctrl-C while waiting
                os.close(fd)
                raise
            if named is not None and (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
                self.fd = fd
                return self
            os.close(fd)

    def __exit__(self, *exc):
        if self.fd is not None:
            try:
                os.unlink(self.path)  # while still held: a waiter then sees it gone and takes the next one
            except OSError:  # left behind, still correct: the next writer takes and removes it
                pass
            os.close(self.fd)  # closing releases the lock


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False if unsupported."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system or kernel cannot
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def write(
    folder: Path,
    *,
    model: onnx.ModelProto | bytes,
    inputs: list[tuple[str, np.ndarray]],
    outputs: list[tuple[str, np.ndarray]],
    weights: Path | None,
    manifest: Manifest | Mapping,
    sign=None,
) -> Path:
    """Writes one artifact folder atomically (staging, then publish) and returns it.

    `manifest` gets the file list (sha256, bytes) added; everything else in it is the caller's
    (a Manifest, or its JSON form less the files, checked as a manifest read is).
    `weights` is None for a variant, whose weights live only in its model.onnx. `sign`, if given
    (an xdl.signing.Signer), signs the staged folder, so the signature is published with it.
    """
    folder = Path(folder)
    tmp = staging(folder)
    try:
        (tmp / TEST_DIR).mkdir()
        (tmp / MODEL_FILE).write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
        for kind, tensors in (("input", inputs), ("output", outputs)):
            for i, (name, array) in enumerate(tensors):
                proto = numpy_helper.from_array(np.ascontiguousarray(array), name=name)
                (tmp / TEST_DIR / f"{kind}_{i}.pb").write_bytes(proto.SerializeToString())
        if weights is not None:
            shutil.copyfile(weights, tmp / weights.name)
        files = {p.relative_to(tmp).as_posix(): FileEntry(sha256=sha256_file(p), bytes=p.stat().st_size)
                 for p in sorted(p for p in tmp.rglob("*") if p.is_file())}
        if isinstance(manifest, Manifest):
            manifest = manifest.replace(manifest_version=MANIFEST_VERSION, files=files)
        else:
            manifest = Manifest.from_dict({**manifest, "manifest_version": MANIFEST_VERSION, "files": {
                name: entry.to_dict() for name, entry in files.items()}}, tmp / MANIFEST)
        (tmp / MANIFEST).write_text(manifest.to_json())
        if sign is not None:
            sign(tmp)
        return publish(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def find(paths: list[str | Path]) -> list[Path]:
    """Returns the artifact folders at or under `paths`: those holding a manifest.json, and those
    that look like an artifact (a model.onnx or test_data_set_0/) without one, so that reading
    them fails the run instead of being skipped. Hidden folders below a given path (xdl's own
    temporary folders) are not searched; a path that passes through one (~/.cache/...) is.

    Raises:
        InputError: a path does not exist, or no artifact is found under it.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists() and not path.is_symlink():
            raise InputError(f"{path} does not exist; pass an artifact folder or exported_models/")
        if path.is_file():
            path = path.parent
        folders = [path] if _looks_like_artifact(path) or path.is_symlink() else _walk(path)
        if not folders:
            raise InputError(f"no {MANIFEST} found under {path}; run `xdl export` first")
        found.extend(f for f in folders if f not in found)
    return found


def _looks_like_artifact(folder: Path) -> bool:
    return any(os.path.lexists(folder / name) for name in (MANIFEST, MODEL_FILE, TEST_DIR))


def _walk(root: Path) -> list[Path]:
    folders, unreadable = [], []
    for here, dirs, _ in os.walk(root, onerror=lambda exc: unreadable.append(Path(exc.filename))):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != TEST_DIR)
        if _looks_like_artifact(Path(here)):
            folders.append(Path(here))
            dirs[:] = []  # an artifact's own folders are not artifacts
    return sorted(folders + unreadable)


@dataclass
class Artifact:
    """A verified artifact folder, loaded: nothing here was parsed before its sha256 matched."""

    folder: Path
    manifest: Manifest
    model_bytes: bytes
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    # Every listed file's bytes, as read once and hashed: a reader uses these, never the path
    # again (a file swapped after the check would be another file).
    files: dict[str, bytes] = field(default_factory=dict)
    # manifest.json as read, for a signature check of the very bytes that were parsed.
    manifest_bytes: bytes = b""

    @property
    def label(self) -> str:
        return f"{self.manifest.model}/{self.manifest.flavour}"

    @contextmanager
    def held(self, relative: str) -> Iterator[Path]:
        """A private copy of a listed file made from the bytes that were hashed, for readers that
        take a path (Keras's and PyTorch's weight loaders): the artifact's own path may hold
        another file by now. Removed on exit.

        Raises:
            InputError: the manifest does not list `relative`.
        """
        if relative not in self.files:
            raise InputError(f"{self.folder / MANIFEST} does not list {relative}; {remake(self.manifest, self.folder)}")
        private = Path(tempfile.mkdtemp(prefix=".xdl-held-"))  # mode 0700: no one else swaps it
        try:
            copy = private / PurePosixPath(relative).name
            copy.write_bytes(self.files[relative])
            yield copy
        finally:
            shutil.rmtree(private, ignore_errors=True)


REEXPORT = "re-run `xdl export`"  # how an exported reference model's artifact is made again


def remake(manifest: Manifest, folder: Path) -> str:
    """The advice that ends a refusal of the artifact at `folder`: how it is made again. A
    user's model (task "user") is saved again by `xdl check --save`, a reference model exported
    again."""
    if tasks.is_users(manifest.task):
        return f"re-run `xdl check {manifest.factory or 'MODULE:FACTORY'} ... --save {folder}`"
    return REEXPORT


def flavour(manifest: Manifest) -> str:
    """"keras", "torch", a variant such as "torch-int8", or a part such as "keras-decoder"."""
    return manifest.flavour


def read_manifest(folder: Path) -> Manifest:
    """Parses and checks manifest.json (Manifest.from_json).

    Raises:
        InputError: missing, not JSON, or lacking required keys.
    """
    return _read_manifest(folder)[0]


def _read_manifest(folder: Path) -> tuple[Manifest, bytes]:
    """read_manifest, and the bytes it parsed (a signature covers those, not a re-serialisation)."""
    path = Path(folder) / MANIFEST
    if path.is_symlink() or not path.is_file():
        raise InputError(f"{path} is missing or not a regular file; re-run `xdl export`")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise InputError(f"{path} is larger than {MAX_MANIFEST_BYTES // 1024**2} MiB: not an xdl manifest")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path} cannot be read ({exc.strerror}); check its permissions") from None
    return Manifest.from_json(raw, path), raw


def _checked_file(folder: Path, relative: str, entry: FileEntry, redo: str) -> bytes:
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError(f"{folder / MANIFEST} lists {relative!r}, a path outside the artifact")
    path = folder / rel
    try:
        if not path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):  # a linked folder
            raise InputError(f"{path} leads outside the artifact through a symbolic link; artifacts hold regular "
                             f"files and folders")
        return _checked_regular_file(path, entry, redo)
    except (OSError, ValueError) as exc:  # unreadable, or a name no file system takes
        raise InputError(f"{path} cannot be read ({getattr(exc, 'strerror', None) or exc}); {redo}") from None


def _checked_regular_file(path: Path, entry: FileEntry, redo: str) -> bytes:
    """The file's bytes, read once through one descriptor that every check was made on: the
    bytes returned are the bytes hashed, whatever happens to the path meanwhile."""
    if path.is_symlink():
        raise InputError(f"{path} is a symbolic link; artifacts must hold regular files")
    if not path.is_file():
        raise InputError(f"{path} is missing; {redo}")
    # O_NOFOLLOW: a link swapped in after the test above is refused by the open itself.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        stat = os.fstat(f.fileno())
        if not S_ISREG(stat.st_mode):
            raise InputError(f"{path} is not a regular file; artifacts must hold regular files")
        if stat.st_nlink > 1:
            raise InputError(f"{path} is a hard link to another file; artifacts must hold their own copies")
        if stat.st_size != entry.bytes or stat.st_size > MAX_FILE_BYTES:
            raise InputError(
                f"{path} has {stat.st_size} bytes, the manifest says {entry.bytes}: "
                f"the file was changed or truncated; {redo}"
            )
        data = f.read(stat.st_size + 1)  # one byte more: a file that grew since fstat is not the one listed
    if len(data) != entry.bytes:
        raise InputError(f"{path} changed while it was read; re-run the command")
    if sha256_bytes(data) != entry.sha256:
        raise InputError(f"{path} does not match its sha256 in the manifest: tampered or corrupt")
    return data


# Test vectors hold numbers: strings and other element types are not ours.
_NUMERIC = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.INT64,
            onnx.TensorProto.INT32, onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.BOOL}


def read_tensor(path: Path, data: bytes | None = None, redo: str = REEXPORT) -> np.ndarray:
    """One test vector (.pb): `data`, the bytes already read (and hashed) from `path`, or the file.
    Refuses external data (it would read a file outside the artifact, relative to the working
    directory), non-numeric element types and a size that its bytes do not hold. `redo` is the
    advice that ends a refusal (remake).

    Raises:
        InputError: anything but a numeric TensorProto stored inline.
    """
    proto = onnx.TensorProto()
    try:
        proto.ParseFromString(path.read_bytes() if data is None else data)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise InputError(f"{path} is not a TensorProto ({type(exc).__name__}); {redo}") from None
    if proto.data_location == onnx.TensorProto.EXTERNAL or len(proto.external_data):
        raise InputError(f"{path} refers to external data; refusing to read another file")
    if proto.data_type not in _NUMERIC:
        raise InputError(f"{path} holds element type {proto.data_type}, not numbers; {redo}")
    if any(d < 0 for d in proto.dims) or len(proto.dims) > 8:
        raise InputError(f"{path} declares the shape {list(proto.dims)}; {redo}")
    try:
        array = numpy_helper.to_array(proto)
    except Exception as exc:  # a shape its data does not fill, and the like
        raise InputError(f"{path} is not a readable tensor ({type(exc).__name__}: {first_line(exc, 120)}); "
                         f"{redo}") from None
    return array


def _read_tensors(folder: Path, kind: str, names: list[str], data: dict[str, bytes],
                  redo: str) -> dict[str, np.ndarray]:
    tensors = {}
    for i, name in enumerate(names):
        path = folder / TEST_DIR / f"{kind}_{i}.pb"
        array = read_tensor(path, data[f"{TEST_DIR}/{kind}_{i}.pb"], redo)
        if array.ndim < 1 or len(array) < 1:
            raise InputError(f"{path} holds no batch (shape {list(array.shape)}); {redo}")
        if kind == "input" and array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InputError(f"{path} holds NaN or Inf; test inputs must be finite: {redo}")
        tensors[name] = array
    batches = {len(a) for a in tensors.values()}
    if len(batches) > 1:
        raise InputError(f"{folder / TEST_DIR} holds {kind}s of different batch sizes {sorted(batches)}")
    return tensors


def load(folder: Path) -> Artifact:
    """Reads an artifact after checking every listed file's size and sha256.

    Raises:
        InputError: anything missing, tampered, linked, outside the folder or unreadable.
    """
    folder = Path(folder)
    if folder.is_symlink():
        raise InputError(f"{folder} is a symbolic link; verify the real folder instead")
    manifest, manifest_bytes = _read_manifest(folder)
    redo = remake(manifest, folder)
    files = manifest.files
    for required in (MODEL_FILE, f"{TEST_DIR}/input_0.pb", f"{TEST_DIR}/output_0.pb"):
        if required not in files:
            raise InputError(f"{folder / MANIFEST} does not list {required}; {redo}")
    data = {relative: _checked_file(folder, relative, entry, redo) for relative, entry in files.items()}
    contract = manifest.contract
    for kind, tensors in (("input", contract.inputs), ("output", contract.outputs)):
        for i in range(len(tensors)):
            if f"{TEST_DIR}/{kind}_{i}.pb" not in files:
                raise InputError(f"{folder / MANIFEST} does not list {TEST_DIR}/{kind}_{i}.pb; {redo}")
    _check_weights_sha256(folder, manifest)
    inputs = _read_tensors(folder, "input", [t.name for t in contract.inputs], data, redo)
    outputs = _read_tensors(folder, "output", [t.name for t in contract.outputs], data, redo)
    if len(next(iter(inputs.values()))) != len(next(iter(outputs.values()))):
        raise InputError(f"{folder / TEST_DIR} holds a different number of inputs and outputs; {redo}")
    return Artifact(
        folder=folder,
        manifest=manifest,
        model_bytes=data[MODEL_FILE],
        inputs=inputs,
        outputs=outputs,
        files=data,
        manifest_bytes=manifest_bytes,
    )


# The native weights a float32 artifact holds (Keras's, PyTorch's): the back ends' WEIGHTS_FILE,
# named here because reading an artifact imports no back end.
WEIGHTS_FILES = ("model.weights.h5", "model.safetensors")


def _check_weights_sha256(folder: Path, manifest: Manifest) -> None:
    """The weights an artifact holds must be those its provenance (weights_sha256) names: files[]
    can be re-hashed after the weights were changed, and `xdl export check` re-exports from them."""
    recorded = manifest.weights_sha256
    for name in WEIGHTS_FILES:
        if name in manifest.files and recorded is not None and manifest.files[name].sha256 != recorded:
            raise InputError(f"{folder / name} is not the weights the manifest's weights_sha256 names (its provenance "
                             f"describes other weights); re-run `xdl export`")
