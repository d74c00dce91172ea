"""Errors meant for people, each carrying the process exit code the CLI documents.

The exit codes are written once, in EXIT_CODES: `xdl --help` renders them (exit_codes_text),
and so do the README and docs (`python -m xdl.commands.docs --write`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARITY = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_WORKER = 4
EXIT_INTERRUPTED = 130  # the shell's convention, 128 + SIGINT

# code -> what it means; Markdown backticks are dropped in the text rendering
EXIT_CODES = {
    EXIT_OK: "at least one comparison ran and everything checked passed (a provider that could not run, "
             "CUDA on a machine without it, is reported as skipped, with the reason)",
    EXIT_PARITY: "a parity check failed: outputs differ beyond the tolerance or hold NaN/Inf, an I/O name or "
                 "shape differs, training parity diverged, `xdl export check` found a stale artifact, or "
                 "`xdl export variant` missed its tolerance (and was not written)",
    EXIT_INPUT: "bad usage or input: unknown model or data set, missing or malformed data files (NaN, negative "
                "or fractional labels, counts that differ, ids past a model's tables), a corrupt, truncated, "
                "tampered, linked or unreadable artifact, a signature missing or failing under `--public-key`, "
                "a folder that looks like an artifact without its manifest, external data, a manifest that "
                "disagrees with its graph or its registered model, a model run past `--timeout` or refused "
                "by the memory cap, a user's model that fails to run or export, nothing to check, no trained "
                "run to export, a diverged training run, an output path refused (a folder, a block device "
                "(a disk), a socket, a FIFO no process reads, a path inside an artifact, a folder that overlaps what the "
                "command reads), a mistyped `TF_CONFIG`, torchrun environment or `--rendezvous`",
    EXIT_ENVIRONMENT: "environment: a required framework or optional extra (named in the message) is not "
                      "installed, a provider named in `--require` cannot run, every requested provider was "
                      "skipped (nothing was checked), the reference outputs of `check` or `verify` carry no "
                      "signal (nothing meaningful was compared: all ~0, identical rows, one constant), "
                      "`xdl doctor` found a problem, `xdl export check` runs "
                      "under other library versions than the artifacts were made with, the disk is full or "
                      "read-only, out of memory",
    EXIT_WORKER: "a distributed run lost a worker: it died, or the other workers or the rendezvous did not "
                 "answer within `XDL_JOIN_TIMEOUT` (120 s); nothing was published",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): artifacts already written stay whole, the one in progress is not "
                      "written",
}


def exit_codes_text(width: int = 100, codes: dict[int, str] | None = None) -> str:
    """EXIT_CODES (or a command's own `codes`) as `--help` shows them: the code, then its meaning
    wrapped under it."""
    import textwrap

    lines = ["exit codes:"]
    for code, meaning in (EXIT_CODES if codes is None else codes).items():
        wrapped = textwrap.wrap(meaning.replace("`", ""), width - 7)
        lines += [f"{code:>5}  {wrapped[0]}", *(f"{'':7}{line}" for line in wrapped[1:])]
    return "\n".join(lines)


class XdlError(Exception):
    """An error whose message is one line saying what is wrong and what to do."""

    exit_code = EXIT_INPUT


class InputError(XdlError):
    """The user asked for something that does not exist or handed over something broken."""

    exit_code = EXIT_INPUT


class EnvironmentProblem(XdlError):
    """A framework, package or execution provider the request needs is missing."""

    exit_code = EXIT_ENVIRONMENT


class WorkerLost(XdlError):
    """A worker of a distributed run died or never joined; the run was not published."""

    exit_code = EXIT_WORKER


class ParityError(XdlError):
    """Outputs that should agree do not."""

    exit_code = EXIT_PARITY


class NothingCompared(XdlError):
    """The outputs agree, but the reference carries no signal (all ~0, identical rows, one
    constant): an output that ignores the inputs would agree too, so it is not a pass."""

    exit_code = EXIT_ENVIRONMENT


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one line for a message: the first non-empty line of its text (libraries'
    colour codes removed, cut at `limit`), or its type's name when it says nothing."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # exporters colour their messages
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]  # Keras's wrapper: the cause ("expected axis -1 ... to have value 6") follows it
    return lines[0][:limit] if lines else type(exc).__name__


# What a core install (`pip install .`) lacks: each optional top-level module, the distribution
# that brings it and the extras of pyproject.toml that install that (the first is named in the
# advice). A missing one is an environment to complete (exit 3), never a bug in xdl.
OPTIONAL = {
    "tensorflow": ("tensorflow", ("tf",)),
    "keras": ("keras", ("tf",)),
    "tf2onnx": ("tf2onnx", ("tf",)),
    "rich": ("rich", ("tf", "torch")),
    "torch": ("torch", ("torch",)),
    "safetensors": ("safetensors", ("torch",)),
    "onnxscript": ("onnxscript", ("torch", "tf")),
    "onnx_ir": ("onnxscript", ("torch", "tf")),  # onnx-ir comes with onnxscript
    "sklearn": ("scikit-learn", ("data",)),
    "scipy": ("scipy", ("data",)),
    "mnist1d": ("mnist1d", ("data",)),
    "gymnasium": ("gymnasium", ("data",)),
    "matplotlib": ("matplotlib", ("plot",)),
    "onnxconverter_common": ("onnxconverter-common", ("variants",)),
    "jupytext": ("jupytext", ("dev",)),
    "nbclient": ("nbclient", ("dev",)),
    "nbformat": ("nbclient", ("dev",)),  # nbformat comes with nbclient
    "ipykernel": ("ipykernel", ("dev",)),
    "sphinx": ("sphinx", ("site",)),
    "myst_nb": ("myst-nb", ("site",)),
    "furo": ("furo", ("site",)),
}


def install_advice(extras) -> str:
    """`pip install 'xdl[a,b]'` for the given extras, in order, each once."""
    return f"pip install 'xdl[{','.join(dict.fromkeys(extras))}]'"


def _advice_for(module: str, extra: str | None = None) -> str:
    known = OPTIONAL.get(module.split(".")[0])
    extras = (extra,) if extra else known[1] if known else ()
    if not extras:
        return "install it"
    advice = f"install it with: {install_advice(extras[:1])}"
    return advice + "".join(f" (or {install_advice((e,))})" for e in extras[1:])


def require(module: str, extra: str | None = None):
    """Imports an optional dependency or raises EnvironmentProblem naming the extra to install
    (`extra`, or the one OPTIONAL names for the module)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EnvironmentProblem(f"{module} is not installed ({exc}); {_advice_for(module, extra)}") from None


def missing_extra(exc: BaseException) -> EnvironmentProblem | None:
    """The EnvironmentProblem a ModuleNotFoundError stands for when the module it could not find
    is one of the OPTIONAL packages itself (not a part of one: `torch._C` missing is a broken
    install, not a missing extra); None for any other error."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name or exc.name not in OPTIONAL:
        return None
    return EnvironmentProblem(f"{exc.name} is not installed; {_advice_for(exc.name)}")


def first_failure(codes) -> int:
    """The exit code of several results: the first of 2 (bad input), 3 (environment), 1 (parity)
    that occurs, else 0; a bad input or environment explains a parity failure, not the reverse."""
    codes = set(codes)
    for code in (EXIT_INPUT, EXIT_ENVIRONMENT, EXIT_PARITY):
        if code in codes:
            return code
    return EXIT_OK
