"""`xdl doctor`: versions, ONNX Runtime's providers and limits, known-bad combinations."""

from __future__ import annotations

from xdl.commands import common


def add_parser(sub) -> None:
    common.command(sub, "doctor", "versions, ONNX Runtime's providers and limits, known-bad combinations"
                   ).set_defaults(func=run)


def run(args) -> int:
    from xdl.tools import doctor

    text, code = doctor.run()
    print(text)
    return code
