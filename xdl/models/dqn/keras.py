"""dqn in Keras 3. Read it next to torch.py: the same network, the same update, the same names."""

import dataclasses

import keras
import tensorflow as tf
from keras import layers

from xdl.backends.keras import make_optimizer
from xdl.backends.progress import TrainingProgress
from xdl.data import cartpole


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.dqn.SPEC): states in, one Q-value per action out."""
    state = spec.contract.inputs[0]
    return keras.Sequential(
        [
            keras.Input(shape=state.channels_last_shape, name=state.name),  # (4,)
            layers.Dense(64, activation="relu", name="dense1"),
            layers.Dense(64, activation="relu", name="dense2"),
            layers.Dense(spec.output.shape[1], name="q"),  # linear: a value, not a probability
        ],
        name=spec.name,
    )


def td_update(net, target, optimizer, gamma: float):
    """One deep Q-learning step, as a function of a replay batch (states, actions, rewards, next
    states, terminal) that returns the batch's loss before the step."""
    huber = keras.losses.Huber(delta=1.0)  # squared near 0, linear beyond: a large TD error cannot explode

    @tf.function
    def step(states, actions, rewards, next_states, terminal):
        # What taking `action` in `state` was worth: the reward plus the discounted value of the
        # best next action, as the target network sees it; nothing after a fall. The target
        # network is not trained: no tape watches it.
        future = tf.reduce_max(target(next_states, training=False), axis=1)
        goal = rewards + gamma * (1.0 - terminal) * future
        with tf.GradientTape() as tape:
            q = tf.gather(net(states, training=True), actions, axis=1, batch_dims=1)  # the Q of the action taken
            loss = huber(goal, q)
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
        return loss

    return lambda batch: float(step(*batch))


def copy_of(net):
    """The target network: the same architecture, a copy of the weights (updated by sync only)."""
    target = keras.models.clone_model(net)
    target.set_weights(net.get_weights())
    return target


def train(net, spec, data, *, epochs: int, checkpoint, show_progress: bool = True) -> dict:
    """Deep Q-learning by the schedule in xdl.data.cartpole. `data` (states) is not trained on: the
    agent gathers its own experience. Keeps the weights of the round with the best greedy
    evaluation, in `checkpoint`, and ends with them."""
    schedule = cartpole.Schedule(rounds=epochs)
    target = copy_of(net)
    learn = td_update(net, target, make_optimizer(spec.recipe), schedule.gamma)
    q_values = tf.function(lambda states: net(states, training=False))
    with TrainingProgress(f"{spec.name}/keras", epochs, schedule.round_steps, show_progress) as progress:
        history = cartpole.run(schedule, spec.recipe.seed, spec.recipe.batch_size,
                               q_values=lambda states: q_values(states).numpy(), learn=learn,
                               sync=lambda: target.set_weights(net.get_weights()),
                               keep=lambda: net.save_weights(checkpoint), report=cartpole.reporter(progress))
    net.load_weights(checkpoint)
    return history


def train_steps(net, spec, batches, optimizer: str, lr: float) -> list[float]:
    """Training parity: one TD step per replay batch against a target network frozen at the
    initial weights (as between two syncs); each step's loss before the step."""
    opt = keras.optimizers.SGD(learning_rate=lr) if optimizer == "sgd" else make_optimizer(
        dataclasses.replace(spec.recipe, lr=lr))
    learn = td_update(net, copy_of(net), opt, cartpole.Schedule.gamma)
    return [learn(batch) for batch in batches]
