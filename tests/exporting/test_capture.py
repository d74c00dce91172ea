"""xdl.exporting.capture: what an exporter writes, at every level, kept out of the terminal; the
line of its error that names the cause."""

import logging
import os
import sys
import warnings

from xdl.exporting import capture


def test_everything_written_inside_the_block_is_captured_and_nothing_reaches_the_terminal(capfd):
    handler = logging.StreamHandler(sys.stderr)  # made before the block: it holds the stream of its making
    logger = logging.getLogger("xdl.tests.capture")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with capture.captured() as log:
            print("from print")
            sys.stderr.write("from sys.stderr\n")
            os.write(1, b"from fd 1\n")  # what native code (TensorFlow's C++, torch's) writes
            os.write(2, b"from fd 2\n")
            logger.warning("from logging")
            warnings.warn("from warnings", UserWarning)
    finally:
        logger.removeHandler(handler)
    for said in ("from print", "from sys.stderr", "from fd 1", "from fd 2", "from logging", "UserWarning: from warnings"):
        assert said in log.text, said
    assert capfd.readouterr() == ("", "")
    print("after")  # the streams are back
    os.write(2, b"fd 2 after\n")
    assert capfd.readouterr() == ("after\n", "fd 2 after\n")


def test_an_error_inside_the_block_raises_with_the_streams_restored(capfd):
    try:
        with capture.captured() as log:
            os.write(2, b"said before failing\n")
            raise ValueError("the exporter failed")
    except ValueError:
        pass
    assert log.text == "said before failing\n"
    os.write(2, b"back\n")
    assert capfd.readouterr().err == "back\n"


def test_the_cause_is_the_innermost_errors_first_meaningful_line():
    inner = RuntimeError("\x1b[96mNext steps:\x1b[0m\n- try this\n\nCould not guard on data-dependent expression "
                         "Eq(u0, 1)\n\nThe following call raised this error:\n  File \"/home/me/nets.py\", line 6, "
                         "in forward\n    if x.sum() > 0:\n")
    try:
        try:
            raise inner
        except RuntimeError as exc:
            raise ValueError("Failed to export the model with torch.export. Next steps:\n- Modify the model") from exc
    except ValueError as outer:
        said = capture.cause(outer)
    assert said == ("RuntimeError: Could not guard on data-dependent expression Eq(u0, 1) "
                    "(at nets.py:6: if x.sum() > 0:)")
    assert capture.cause(KeyError()) == "KeyError"  # says nothing: its type
