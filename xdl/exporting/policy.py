"""The deployment check of an agent (dqn): the exported policy, run by ONNX Runtime, drives the
environment on the same seeds as the native twin, and must earn the same returns.

A Q-network's outputs agreeing within a tolerance on stored states is not yet the deployed
behaviour: the policy is the argmax of the outputs, fed back into the environment step after
step, so a difference in the last bits that flips one near-tie changes every state after it. This
check plays whole episodes both ways and reports where the chosen actions differ.
"""

from __future__ import annotations

import numpy as np

from xdl import verify
from xdl.data import cartpole
from xdl.errors import ParityError

EPISODES = 100  # the seeds of the test metric: 0 to 99


def check(spec, fw, net, proto) -> dict:
    """Plays EPISODES greedy episodes with the native twin and with ONNX Runtime on CPU running
    `proto`; returns the manifest's record of both.

    Raises:
        ParityError: an episode's return differs between the two.
    """
    session = verify.session(proto.SerializeToString(), "cpu")
    name, seeds = spec.inputs[0].name, np.arange(EPISODES)
    native, native_actions = cartpole.greedy_episodes(lambda states: fw.predict(net, spec, states), seeds)
    onnx, onnx_actions = cartpole.greedy_episodes(lambda states: session.run(None, {name: states})[0], seeds)
    record = {
        "environment": cartpole.ENVIRONMENT,
        "episodes": EPISODES,
        "seeds": f"0-{EPISODES - 1}",
        "native_mean_return": float(native.mean()),
        "onnx_mean_return": float(onnx.mean()),
        "steps": int((native_actions >= 0).sum()),
        # after an episode ends the record holds -1: an episode one policy ends earlier counts too
        "actions_differ": int((native_actions != onnx_actions).sum()),
        # episodes whose two plays parted at some step (a near-tie of the two Q-values decided
        # otherwise): from there on they are two different episodes, both played by the policy
        "episodes_diverged": int((native_actions != onnx_actions).any(axis=1).sum()),
        "returns_differ": int((native != onnx).sum()),
    }
    if record["returns_differ"]:
        raise ParityError(f"{spec.name}: the exported policy run by ONNX Runtime earned other returns than the native "
                          f"twin in {record['returns_differ']} of {EPISODES} episodes (mean {record['onnx_mean_return']:.1f} "
                          f"vs {record['native_mean_return']:.1f}; {record['actions_differ']} actions differ)")
    return record


def summary(record: dict) -> str:
    """One line for a person: the returns, and how often the two plays chose differently."""
    return (f"policy check: ONNX Runtime's policy earned the native returns in all {record['episodes']} episodes "
            f"(mean {record['onnx_mean_return']:.1f}); {record['actions_differ']:,} of {record['steps']:,} actions "
            f"differ, {record['episodes_diverged']} episodes parted")
