"""The checks an export adds for its model's task (xdl.spec.tasks: Task.export_checks), beyond
comparing outputs on the test vectors: an agent's (dqn's) exported policy, run by ONNX Runtime,
must drive its environment on the same seeds as the native twin and earn the same returns.
"""

from __future__ import annotations

from xdl import verify
from xdl.data import for_model
from xdl.spec import tasks


def check(spec, fw, net, proto) -> dict:
    """Runs the checks the spec's task adds to an export of `net` as `proto`, with the native twin
    and ONNX Runtime on CPU; returns the manifest entries recording them (none for most tasks).

    Raises:
        ParityError: the exported model does otherwise than the native one (an agent's returns differ).
    """
    session = None

    def exported(x):
        nonlocal session
        if session is None:  # made only for a task that runs the exported model
            session = verify.session(proto.SerializeToString(), "cpu")
        return session.run(None, spec.feeds(x))[0]

    return tasks.get(spec.task).export_checks(spec, lambda x: fw.predict(net, spec, x), exported,
                                              for_model.environment(spec))


def summary(record: dict) -> str:
    """One line for a person: the returns, and how often the two plays chose differently."""
    return (f"policy check: ONNX Runtime's policy earned the native returns in all {record['episodes']} episodes "
            f"(mean {record['onnx_mean_return']:.1f}); {record['actions_differ']:,} of {record['steps']:,} actions "
            f"differ, {record['episodes_diverged']} episodes parted")
