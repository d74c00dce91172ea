"""Errors meant for people, each carrying the process exit code the CLI documents.

Exit codes (also in the README):
    0  everything checked passed
    1  a parity check failed (outputs differ beyond the tolerance)
    2  bad usage or bad input: unknown model, missing data set, corrupt or tampered artifact,
       an output path refused or overlapping what the command reads
    3  environment: a required framework, extra or execution provider is not available, a full disk
    4  a distributed run lost a worker: it died, or did not join in time; nothing was published
  130  interrupted (Ctrl-C), the shell convention 128 + SIGINT
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARITY = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_WORKER = 4
EXIT_INTERRUPTED = 130


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


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one line for a message: the first non-empty line of its text (libraries'
    colour codes removed, cut at `limit`), or its type's name when it says nothing."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # exporters colour their messages
    lines = [line.strip() for line in text.splitlines() if line.strip()]
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
    "nbconvert": ("nbconvert", ("dev",)),
    "nbformat": ("nbclient", ("dev",)),  # nbformat comes with nbclient
    "ipykernel": ("ipykernel", ("dev",)),
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
