"""dqn in PyTorch. Read it next to keras.py: the same network, the same update, the same names."""

import copy
import dataclasses

import torch
from torch import nn

from xdl.backends.progress import TrainingProgress
from xdl.backends.torch import keras_like_init, load_weights, make_optimizer, save_weights
from xdl.data import cartpole


class QNetwork(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.dense1 = nn.Linear(spec.contract.inputs[0].shape[1], 64)
        self.relu1 = nn.ReLU()
        self.dense2 = nn.Linear(64, 64)
        self.relu2 = nn.ReLU()
        self.q = nn.Linear(64, spec.output.shape[1])  # linear: a value, not a probability

    def forward(self, state):
        return self.q(self.relu2(self.dense2(self.relu1(self.dense1(state)))))


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.dqn.SPEC): states in, one Q-value per action out."""
    return keras_like_init(QNetwork(spec))


def td_update(net, target, optimizer, gamma: float):
    """One deep Q-learning step, as a function of a replay batch (states, actions, rewards, next
    states, terminal) that returns the batch's loss before the step."""
    huber = nn.HuberLoss(delta=1.0)  # Keras: keras.losses.Huber(delta=1.0)

    def step(states, actions, rewards, next_states, terminal):
        states, actions, rewards, next_states, terminal = map(torch.from_numpy, (states, actions, rewards,
                                                                                 next_states, terminal))
        with torch.no_grad():  # the target is a number to move towards, not something to train
            future = target(next_states).amax(dim=1)
            goal = rewards + gamma * (1.0 - terminal) * future
        q = net(states).gather(1, actions[:, None])[:, 0]  # the Q of the action taken
        loss = huber(q, goal)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return lambda batch: step(*batch)


def copy_of(net):
    """The target network: the same architecture, a copy of the weights (updated by sync only)."""
    return copy.deepcopy(net)


def train(net, spec, data, *, epochs: int, checkpoint, show_progress: bool = True) -> dict:
    """Deep Q-learning by the schedule in xdl.data.cartpole. `data` (states) is not trained on: the
    agent gathers its own experience. Keeps the weights of the round with the best greedy
    evaluation, in `checkpoint`, and ends with them."""
    schedule = cartpole.Schedule(rounds=epochs)
    target = copy_of(net)
    learn = td_update(net, target, make_optimizer(net.parameters(), spec.recipe), schedule.gamma)

    def q_values(states):
        with torch.no_grad():
            return net(torch.from_numpy(states)).numpy()

    with TrainingProgress(f"{spec.name}/torch", epochs, schedule.round_steps, show_progress) as progress:
        history = cartpole.run(schedule, spec.recipe.seed, spec.recipe.batch_size, q_values=q_values, learn=learn,
                               sync=lambda: target.load_state_dict(net.state_dict()),
                               keep=lambda: save_weights(net, checkpoint), report=cartpole.reporter(progress))
    load_weights(net, checkpoint)
    return history


def train_steps(net, spec, batches, optimizer: str, lr: float) -> list[float]:
    """Training parity: one TD step per replay batch against a target network frozen at the
    initial weights (as between two syncs); each step's loss before the step."""
    opt = torch.optim.SGD(net.parameters(), lr=lr) if optimizer == "sgd" else make_optimizer(
        net.parameters(), dataclasses.replace(spec.recipe, lr=lr))
    learn = td_update(net, copy_of(net), opt, cartpole.Schedule.gamma)
    return [learn(batch) for batch in batches]
