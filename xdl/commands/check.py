"""`xdl check`: export your own model and check ONNX Runtime against it."""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

from xdl import limits
from xdl.commands import common, verify
from xdl.errors import InputError
from xdl.spec import tolerance

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def add_parser(sub) -> None:
    sp = common.command(sub, "check", "export your own model and check ONNX Runtime against it")
    sp.add_argument("factory", metavar="MODULE:FACTORY",
                    help="a function returning a torch.nn.Module or keras.Model, e.g. mypkg.nets:build")
    input_options(sp)
    sp.add_argument("--dynamic", action="append", default=[], metavar="NAME:AXIS",
                    help="an axis dynamic besides the batch (a sequence length), one per input, checked at the "
                         "inputs' size and one less; repeatable")
    sp.add_argument("--kind", default="logits", choices=tolerance.OUTPUT_KINDS,
                    help="what the float outputs are (features: embeddings, hidden states); picks the tolerance "
                         "(default: logits); integer and bool outputs are compared exactly")
    sp.add_argument("--route", metavar="ROUTE",
                    help="the exporter's route: dynamo or torchscript (torch), tf2onnx, saved-model or keras-export "
                         "(Keras); default: each in that order while a route's graph does not take the model's "
                         "inputs and outputs (the report names the route used)")
    # also before the command (`xdl --debug check`): SUPPRESS keeps this one from resetting that
    sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="show what the exporter printed and logged (kept out of the report), and the traceback "
                         "of an error (or set XDL_DEBUG=1)")
    sp.add_argument("--opset", type=int, default=None, metavar="N",
                    help="the ONNX opset to export at: 17 to 21 for torch, 17 or 18 for Keras (default: 18, xdl's)")
    sp.add_argument("--atol", type=_bound, metavar="X", help="replace the policy's float32 atol (needs --reason)")
    sp.add_argument("--rtol", type=_bound, metavar="X", help="replace the policy's float32 rtol (needs --reason)")
    sp.add_argument("--reason", metavar="TEXT", help="why the tolerance is overridden: said on every report line "
                    "and recorded by --save")
    sp.add_argument("--save", metavar="DIR", help="keep the checked model as an xdl artifact in DIR (model.onnx, "
                    "manifest.json, test_data_set_0/ with the inputs and the native outputs), whatever the verdict, "
                    "for `xdl verify DIR`; an earlier --save there is replaced")
    common.provider_options(sp)
    sp.add_argument("--seed", type=common.count(0), default=0, help="seed of the random inputs")
    common.output_options(sp, verify.FORMATS, old=("--report",))
    common.bound_options(sp)
    sp.set_defaults(func=run)


def input_options(sp, floats: str = "[0, 1)") -> None:
    """--input-shape, --input and --inputs: what a user's model is run on (check, twin); `floats`
    says the range random floats are drawn from by default."""
    sp.add_argument("--input-shape", action="append", default=[], metavar="N,D1,...",
                    help=f"a float32 input's shape, batch first, in the model's own layout, values in {floats}; "
                         "repeat for more inputs (passed by position)")
    sp.add_argument("--input", action="append", default=[], metavar="NAME=SHAPE[:DTYPE[:LOW:HIGH]]",
                    help="an input by name (the keyword the model takes, and the ONNX input's name), e.g. "
                         "input_ids=2,16:int64:0:1000; DTYPE one of float16, float32 (default), float64, int32, "
                         f"int64, bool; floats drawn in [LOW, HIGH) (default {floats}), integers in [LOW, HIGH) "
                         "(required); the names input_0, input_1... stand for positions; repeatable")
    sp.add_argument("--inputs", metavar="FILE.npz",
                    help="real samples, one array per input name (np.savez(FILE, input_ids=..., attention_mask=...)); "
                         "with --input, each named there must be in the file with its dtype and shape")


def _bound(text: str) -> float:
    """An argparse type: a tolerance, a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number >= 0")
    return value


def override(args, kind: str):
    """The tolerance override that --atol, --rtol and --reason give, or None; the one not given
    keeps the policy's float32 CPU number for `kind`.

    Raises:
        InputError: --atol or --rtol without --reason, or --reason without either.
    """
    from xdl.verify import policy

    if args.atol is None and args.rtol is None:
        if args.reason is not None:
            raise InputError("--reason explains a tolerance override: give --atol and/or --rtol with it")
        return None
    if not (args.reason or "").strip():
        raise InputError("--atol and --rtol replace the policy's numbers only with --reason TEXT saying why "
                         "(it is shown on every report line and recorded by --save)")
    return policy.user_override(kind, args.atol, args.rtol, args.reason.strip())


def input_spec(text: str) -> tuple[str, tuple[int, ...], str, int | float | None, int | float | None]:
    """`NAME=SHAPE[:DTYPE[:LOW:HIGH]]` -> (name, shape, dtype, low, high); LOW and HIGH are ints
    where they are written as integers (exact beyond float's 2**53), else floats.

    Raises:
        InputError: not of that form (one line naming what is wrong).
    """
    name, equals, rest = text.partition("=")
    if not equals or not _NAME.fullmatch(name):
        raise InputError(f"--input takes NAME=SHAPE[:DTYPE[:LOW:HIGH]], e.g. input_ids=2,16:int64:0:1000; got {text!r}")
    parts = rest.split(":")
    if len(parts) not in (1, 2, 4):
        raise InputError(f"--input {text!r}: give SHAPE, SHAPE:DTYPE or SHAPE:DTYPE:LOW:HIGH")
    shape = common.int_list(parts[0], "--input", what="positive comma-separated integers, batch first")
    dtype = parts[1] if len(parts) > 1 else "float32"
    low = high = None
    if len(parts) == 4:
        try:
            low, high = _number(parts[2]), _number(parts[3])
        except ValueError:
            raise InputError(f"--input {text!r}: LOW and HIGH must be numbers") from None
    return name, shape, dtype, low, high


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def input_range(name: str, dtype: str, low: int | float, high: int | float) -> tuple[int | float, int | float]:
    """LOW and HIGH of `--input NAME=SHAPE:DTYPE:LOW:HIGH` as the draw takes them (ints for an
    integer dtype), once they are known to give values of that dtype: finite, LOW < HIGH, whole
    numbers within an integer dtype's range, within a float dtype's finite range.

    Raises:
        InputError: they do not (one line naming the input and what to give).
    """
    import numpy as np

    given = f"--input {name} ({dtype} in [{low}, {high}))"
    if dtype == "bool":
        raise InputError(f"{given}: a bool input takes no LOW:HIGH (its values are drawn fair); give {name}=SHAPE:bool")
    if not all(isinstance(v, int) or math.isfinite(v) for v in (low, high)):
        raise InputError(f"{given}: LOW and HIGH must be finite numbers")
    if not low < high:
        raise InputError(f"{given}: LOW must be below HIGH (values are drawn in [LOW, HIGH))")
    if dtype.startswith("int"):
        if not all(isinstance(v, int) or v.is_integer() for v in (low, high)):
            raise InputError(f"{given}: an integer input's LOW and HIGH must be whole numbers")
        info = np.iinfo(dtype)
        low, high = int(low), int(high)
        if low < info.min or high > info.max + 1:
            raise InputError(f"{given}: {dtype} holds {info.min} to {info.max}; give LOW >= {info.min} and "
                             f"HIGH <= {info.max + 1} (HIGH is excluded)")
        return low, high
    largest = float(np.finfo(dtype).max)
    if max(abs(low), abs(high)) > largest:
        raise InputError(f"{given}: {dtype}'s finite values lie within +-{largest:g}; give LOW and HIGH in that range")
    if not math.isfinite(float(high) - float(low)):  # the draw scales by HIGH - LOW, in float64
        raise InputError(f"{given}: HIGH - LOW overflows float64; narrow the range")
    return low, high


def dynamic_axis(text: str) -> tuple[str, int]:
    """`NAME:AXIS` -> (name, axis). Raises InputError when it is not of that form."""
    name, colon, axis = text.rpartition(":")
    if not colon or not name or not axis.isdigit():
        raise InputError(f"--dynamic takes NAME:AXIS, e.g. input_ids:1; got {text!r}")
    return name, int(axis)


def example(args, users, floats: tuple[float, float] = (0.0, 1.0)):
    """The inputs to check on: random ones from --input-shape or --input (floats drawn from
    `floats` unless LOW:HIGH says), or the --inputs file's; a tuple (positions) or a dict
    (keywords), as users.by_position says of their names."""
    import numpy as np

    specs = [input_spec(s) for s in args.input]
    specs += [(f"input_{i}", common.int_list(s, "--input-shape", what="positive comma-separated integers, batch first"),
               "float32", None, None) for i, s in enumerate(args.input_shape)]
    specs = [(n, shape, d, *(floats if low is None and d.startswith("float") else (low, high)))
             for n, shape, d, low, high in specs]
    if args.input_shape and (args.input or args.inputs):
        raise InputError("--input-shape takes no --input or --inputs: name every input with --input NAME=SHAPE")
    if not specs and not args.inputs:
        raise InputError("say what the model takes: --input NAME=SHAPE[:DTYPE[:LOW:HIGH]] (or --input-shape "
                         "N,D1,...), or --inputs FILE.npz")
    named = [name for name, *_ in specs]
    twice = next((name for name in named if named.count(name) > 1), None)
    if twice is not None:  # the later one would silently replace the earlier
        raise InputError(f"--input {twice} is given more than once; give each input once")
    for i, (name, shape, dtype, low, high) in enumerate(specs):
        if dtype not in users.DTYPES:
            raise InputError(f"--input {name}: unknown dtype {dtype!r}; use one of {', '.join(users.DTYPES)}")
        if low is not None:
            specs[i] = (name, shape, dtype, *input_range(name, dtype, low, high))
    limits.check_bytes(sum(np.dtype(d).itemsize * np.prod(s, dtype=np.float64) for _, s, d, _, _ in specs), "--input")
    if not args.inputs:
        feeds = users.random_inputs(specs, args.seed)
    else:
        feeds = users.load_inputs(args.inputs)
        for name, shape, dtype, _, _ in specs:
            if name not in feeds:
                raise InputError(f"--inputs {args.inputs} has no array {name!r} (it holds {', '.join(feeds)})")
            if feeds[name].dtype != dtype or feeds[name].shape != shape:
                raise InputError(f"--inputs {args.inputs}: {name} is {feeds[name].dtype} of shape "
                                 f"{list(feeds[name].shape)}, --input says {dtype} of shape {list(shape)}")
    return tuple(feeds.values()) if users.by_position(feeds) else feeds


def apart(output: str, save: str) -> None:
    """Refuses an --output that is, lies inside or holds the --save folder: the report would be
    refused as inside the artifact only after the export and the save (the folder does not exist
    yet when the outputs are first checked), or the artifact would land where the report goes.

    Raises:
        InputError: they overlap (one line naming both).
    """
    if str(output) == common.STDOUT:
        return
    out, folder = Path(os.path.realpath(output)), Path(os.path.realpath(save))  # links followed, as the writes do
    if out == folder or folder in out.parents or out in folder.parents:
        where = "is" if out == folder else "is inside" if folder in out.parents else "holds"
        raise InputError(f"--output {output} {where} the --save folder {save}: write the report outside the "
                         f"artifact folder")


def run(args) -> int:
    from xdl.exporting import graph
    from xdl.parity import saving, users

    # bad arguments fail before the model is loaded
    dynamic = dict(dynamic_axis(s) for s in args.dynamic)
    if len(dynamic) < len(args.dynamic):
        raise InputError("--dynamic: one axis per input besides the batch (the ONNX graph names it seq)")
    tolerance_override = override(args, args.kind)
    opset = graph.OPSET if args.opset is None else args.opset
    users.check_opset(opset)
    if args.save is not None:
        saving.check_folder(args.save)
        for _, path in common.outputs(args):
            apart(path, args.save)
    inputs = example(args, users)
    if isinstance(inputs, tuple):  # positions: --dynamic names them input_0, input_1...
        dynamic = {f"input_{int(k[4:])}" if re.fullmatch(r"arr_\d+", k) else k: v for k, v in dynamic.items()}
    debug = args.debug or os.environ.get("XDL_DEBUG", "") not in ("", "0")
    model = users.load_factory(args.factory, debug)
    result = users.check(model, inputs, providers=common.names(args.providers), required=common.names(args.require),
                         kind=args.kind, raise_on_failure=False, dynamic=dynamic, route=args.route, debug=debug,
                         opset=opset, tolerance_override=tolerance_override, save=args.save, factory=args.factory)
    verify.emit_report(args, result)
    return result.exit_code
