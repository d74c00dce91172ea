"""The tasks as registered classes (xdl/spec/tasks.py): each owns its targets, loss, metric, head,
trainer, parity batches and export checks, and no module outside it tests a task by its name."""

import ast
import types

import numpy as np
import pytest

from conftest import ROOT
from xdl.errors import ParityError
from xdl.spec import registry, tasks

SOURCES = sorted((ROOT / "xdl").rglob("*.py"))
TASKS_MODULE = ROOT / "xdl" / "spec" / "tasks.py"


def _names_a_task(node) -> bool:
    """`task`, `x.task` or `tasks.get(...).name`: an expression that is a task's name."""
    if isinstance(node, ast.Name):
        return node.id == "task"
    if isinstance(node, ast.Attribute):
        return node.attr == "task" or (node.attr == "name" and "tasks.get" in ast.unparse(node.value))
    return False


def test_no_module_outside_the_task_classes_tests_a_task_by_name():
    """`spec.task == "control"`, `task in ("classification", ...)`: a branch on the task's name is
    a behaviour of the task, and belongs in its class; nor is there an `own_loop` flag or a
    `getattr(twin, "train", ...)` hook for a model with its own loop (an OwnLoop task)."""
    found = []
    for path in SOURCES:
        if path == TASKS_MODULE:
            continue
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn))
                                                     for op in node.ops):
                if any(_names_a_task(side) for side in (node.left, *node.comparators)):
                    found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.Attribute) and node.attr == "own_loop":
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            if (isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr" and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value in ("train", "train_steps")):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "branch on the task object's methods instead (xdl/spec/tasks.py):\n" + "\n".join(found)


def test_every_spec_names_a_registered_task_and_every_task_is_complete():
    for name in registry.names():
        spec = registry.get(name)
        assert spec.task in tasks.TASKS, name
        assert tasks.get(spec.task).name == spec.task
    for name, task in tasks.TASKS.items():
        assert task.name == name and isinstance(task, tasks.Task)
        assert task.keras_loss and task.torch_loss and task.metric, name
        assert task.head in ("softmax", "sigmoid", "none"), name
        assert task.accuracy in ("", "argmax", "threshold"), name
    with pytest.raises(ValueError, match="twice"):
        tasks.register(type("Again", (tasks.Task,), {"name": "classification"}))


def test_a_model_of_an_own_loop_task_has_its_own_loop_in_both_twins():
    """The trainer of an OwnLoop task is the twin's train (and train_steps): both twins define them.
    Read from the source: importing a twin imports its framework."""
    for name in registry.names():
        if not isinstance(tasks.get(registry.get(name).task), tasks.OwnLoop):
            continue
        for framework in registry.FRAMEWORKS:
            tree = ast.parse((ROOT / "xdl" / "models" / name / f"{framework}.py").read_text())
            defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert {"train", "train_steps"} <= defined, (name, framework)


def test_the_trainer_is_the_back_ends_or_the_twins():
    fw = types.SimpleNamespace(train="fw.train", train_steps="fw.train_steps")
    twin = types.SimpleNamespace(train="twin.train", train_steps="twin.train_steps")
    assert tasks.get("classification").trainer(fw, twin) == "fw.train"
    assert tasks.get("regression").step_trainer(fw, twin) == "fw.train_steps"
    assert tasks.get("generation").trainer(fw, twin) == "twin.train"
    assert tasks.get("control").step_trainer(fw, twin) == "twin.train_steps"


def test_targets_losses_and_scores():
    x, y = np.zeros((4, 3), np.float32), np.array([0, 1, 1, 0])
    assert tasks.get("binary").targets(x, y).shape == (4, 1) and tasks.get("binary").targets(x, y).dtype == np.float32
    assert tasks.get("classification").targets(x, y) is y
    assert tasks.get("reconstruction").targets(x, y) is x
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    assert tasks.get("classification").score(probs, x, y) == 1.0
    assert tasks.get("classification").loss(probs, x, y) == pytest.approx(-np.log([0.9, 0.8, 0.6, 0.7]).mean())
    assert tasks.get("binary").score(np.array([0.1, 0.9, 0.8, 0.2]), x, y) == 1.0
    assert tasks.get("regression").score(np.array([1.0, 1.0]), x[:2], np.array([1.0, 3.0])) == pytest.approx(np.sqrt(2))
    tokens = np.array([[3, 4, 0]])  # the padding (0) is not scored
    assert tasks.get("tagging").score(np.eye(3)[[[1, 2, 1]]], tokens, np.array([[1, 2, 0]])) == 1.0
    assert tasks.meets("classification", 0.9, 0.8) and not tasks.meets("regression", 0.9, 0.8)
    with pytest.raises(NotImplementedError):
        tasks.get("control").score(probs, x, y)  # scored by playing


def test_a_reconstructions_targets_take_the_contracts_layout():
    spec = registry.get("autoencoder")
    images = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    assert tasks.get("reconstruction").contract_targets(spec, images, None).shape == (2, 1, 28, 28)


def test_a_generators_data_is_noise_in_and_images_to_draw():
    spec = registry.get("gan")
    images = {s: np.random.default_rng(1).random((n, 28, 28, 1), dtype=np.float32)
              for s, n in (("train", 5), ("val", 0), ("test", 3))}
    data = types.SimpleNamespace(source="digits", **{f"x_{s}": a for s, a in images.items()},
                                 **{f"y_{s}": np.zeros(len(a)) for s, a in images.items()})
    task = tasks.get("generation")
    assert task.data_shape(spec) == (28, 28, 1)
    task.prepare(spec, data)
    assert data.x_train.shape == (5, spec.contract.inputs[0].shape[1]) and data.y_test is images["test"]
    assert "noise" in data.source


class _Environment:
    """A stand-in environment: an episode's return is its policy's first output, its actions the argmax."""

    ENVIRONMENT = "Stand-in-v0"

    @staticmethod
    def greedy_episodes(policy, seeds):
        out = np.asarray(policy(np.asarray(seeds, np.float32)[:, None]))
        return out[:, 0], np.tile(out.argmax(axis=1)[:, None], (1, 3))

    @staticmethod
    def transitions(n, seed):
        return tuple(np.arange(n) + k for k in range(5))


def test_an_agents_export_check_plays_both_policies_and_refuses_other_returns():
    spec, task = registry.get("dqn"), tasks.get("control")
    policy = lambda s: np.concatenate([np.ones_like(s), np.zeros_like(s)], axis=1)  # noqa: E731
    added = task.export_checks(spec, policy, policy, _Environment)
    assert set(added) == {"policy_check"}
    record = added["policy_check"]
    assert record["environment"] == "Stand-in-v0" and record["episodes"] == 100 and record["returns_differ"] == 0
    other = lambda s: np.concatenate([2 * np.ones_like(s), np.zeros_like(s)], axis=1)  # noqa: E731
    with pytest.raises(ParityError, match="earned other returns"):
        task.export_checks(spec, policy, other, _Environment)
    assert tasks.get("classification").export_checks(spec, policy, other, None) == {}


def test_an_agents_parity_batches_are_replay_from_its_environment():
    spec = registry.get("dqn")
    batches = tasks.get("control").parity_batches(spec, 3, 4, dataset=None, environment=_Environment)
    assert len(batches) == 3 and all(len(b) == 5 and len(b[0]) == 4 for b in batches)
    assert batches[1][0].tolist() == [4, 5, 6, 7]
