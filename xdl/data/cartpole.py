"""cartpole: gymnasium's CartPole-v1, the environment the `dqn` agent learns in, and what both of
its twins share: the schedule's loop (epsilon-greedy acting, the replay buffer, when to learn and when
to copy the target network), and greedy episodes for scoring.

The data set `cartpole` holds states, not experience: states the pole passes through under a
random policy (each episode seeded), which the exports' test vectors, the live checks and the
layer-by-layer comparisons feed the Q-network. The agent's experience comes from the environment
itself, during training.

Everything random comes from numpy Generators seeded from the schedule, never from a framework: the
two twins see the same exploration coin flips and the same replay samples in the same order, so
the only differences between their runs are their initial weights and their arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xdl.errors import EnvironmentProblem
from xdl.spec import datasets

ENVIRONMENT = "CartPole-v1"
SOLVED = 475.0  # gymnasium's reward threshold for CartPole-v1: the task counts as solved at this mean return
STATE, ACTIONS = datasets.CARTPOLE_STATE, datasets.CARTPOLE_ACTIONS


def make(seed: int | None = None):
    """A CartPole-v1 environment (at most 500 steps an episode), reset with `seed`."""
    try:
        import gymnasium
    except ImportError:
        raise EnvironmentProblem("gymnasium is not installed; install it with: pip install 'xdl[data]'") from None
    env = gymnasium.make(ENVIRONMENT)
    env.reset(seed=seed)
    return env


def greedy_episodes(q_values, seeds) -> tuple[np.ndarray, np.ndarray]:
    """Plays one episode per seed with the greedy policy (the action of the highest Q-value),
    all episodes in lockstep so that each step is one batched call of `q_values` (states (n, 4)
    float32 -> Q-values (n, 2)): a native twin, or an ONNX Runtime session.

    Returns each episode's return and the actions chosen, (episodes, 500), -1 after an episode ended.
    """
    envs = [make() for _ in seeds]
    states = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    returns = np.zeros(len(envs))
    actions = np.full((len(envs), 500), -1, np.int64)
    running = np.ones(len(envs), bool)
    for step in range(500):
        live = np.flatnonzero(running)
        if not len(live):
            break
        chosen = np.asarray(q_values(states[live])).argmax(axis=1)
        for i, action in zip(live, chosen):
            state, reward, terminated, truncated, _ = envs[i].step(int(action))
            states[i], returns[i], actions[i, step] = state, returns[i] + reward, action
            running[i] = not (terminated or truncated)
    return returns, actions


@dataclass(frozen=True)
class Schedule:
    """The DQN training schedule (Mnih et al. 2015, scaled down to CartPole and a 2-core CPU)."""

    rounds: int  # training is counted in rounds of `round_steps` environment steps (the "epochs")
    round_steps: int = 1_000
    gamma: float = 0.99  # discount: a reward 100 steps away counts 0.37
    buffer: int = 20_000  # replay memory: the last 20,000 transitions
    warmup: int = 1_000  # random steps before the first update
    epsilon_start: float = 1.0
    epsilon_end: float = 0.02
    epsilon_steps: int = 10_000  # linear decay of exploration over the first 10,000 steps
    # Steps between copies of the online network into the target network. Measured on seeds 0-2 of
    # the PyTorch twin: every 200 gave test returns of 500, 499 and 447; every 500 and every 100 less.
    target_every: int = 200
    evaluation_episodes: int = 10  # greedy episodes after each round: the checkpoint keeps the best

    def epsilon(self, step: int) -> float:
        fraction = min(1.0, step / self.epsilon_steps)
        return self.epsilon_start + fraction * (self.epsilon_end - self.epsilon_start)


class Replay:
    """A ring buffer of transitions (state, action, reward, next state, terminal), sampled uniformly."""

    def __init__(self, size: int):
        self.states = np.zeros((size, STATE), np.float32)
        self.next_states = np.zeros((size, STATE), np.float32)
        self.actions = np.zeros(size, np.int64)
        self.rewards = np.zeros(size, np.float32)
        self.terminal = np.zeros(size, np.float32)  # 1 where the pole fell: no future value after it
        self.count = 0

    def add(self, state, action, reward, next_state, terminal) -> None:
        i = self.count % len(self.actions)
        self.states[i], self.actions[i], self.rewards[i] = state, action, reward
        self.next_states[i], self.terminal[i] = next_state, terminal
        self.count += 1

    def sample(self, rng, n: int) -> tuple[np.ndarray, ...]:
        i = rng.integers(0, min(self.count, len(self.actions)), size=n)
        return self.states[i], self.actions[i], self.rewards[i], self.next_states[i], self.terminal[i]


def run(schedule: Schedule, seed: int, batch_size: int, *, q_values, learn, sync, keep, report=None) -> dict:
    """Trains an agent by the schedule; the twin supplies four functions in its own framework:
    q_values(states) -> (n, 2) array; learn(batch) -> the step's TD loss (a float), one optimizer
    step on a sampled batch; sync() copies the online weights into the target network; keep()
    saves the current weights as the best so far. `report(round, history)` is called after each round.

    Returns the history: per round, the mean TD loss, the mean return of the episodes that ended
    during the round (exploring), and the greedy evaluation's mean return.
    """
    rng = np.random.default_rng(seed)  # exploration coin flips and replay samples
    env = make(seed)
    state = env.reset(seed=seed)[0].astype(np.float32)
    replay = Replay(schedule.buffer)
    history: dict[str, list] = {"loss": [], "return": [], "eval_return": []}
    best, episode_return, finished, losses = -np.inf, 0.0, [], []
    for step in range(schedule.rounds * schedule.round_steps):
        if step < schedule.warmup or rng.random() < schedule.epsilon(step):
            action = int(rng.integers(ACTIONS))
        else:
            action = int(np.asarray(q_values(state[None])).argmax())
        next_state, reward, terminated, truncated, _ = env.step(action)
        next_state = next_state.astype(np.float32)
        # A time-limit cut (truncated) is not a fall: the state still has a future worth bootstrapping.
        replay.add(state, action, reward, next_state, float(terminated))
        episode_return += reward
        state = next_state
        if terminated or truncated:
            finished.append(episode_return)
            episode_return, state = 0.0, env.reset()[0].astype(np.float32)
        if step >= schedule.warmup:
            losses.append(learn(replay.sample(rng, batch_size)))
            if step % schedule.target_every == 0:
                sync()
        if (step + 1) % schedule.round_steps == 0:
            seeds = 10_000 + seed * 1_000 + np.arange(schedule.evaluation_episodes)  # never the scoring seeds
            evaluation = float(greedy_episodes(q_values, seeds)[0].mean())
            history["loss"].append(float(np.mean(losses)) if losses else 0.0)
            history["return"].append(float(np.mean(finished)) if finished else episode_return)
            history["eval_return"].append(evaluation)
            losses, finished = [], []
            if evaluation >= best:  # ties go to the later round: more experience behind it
                best = evaluation
                keep()
            if report is not None:
                report(len(history["loss"]), history)
    return history


def reporter(progress):
    """`run`'s report: each round's line on a back end's TrainingProgress (xdl.backends.progress)."""

    def report(round_number: int, history: dict) -> None:
        progress.epoch_end(round_number - 1, {"loss": history["loss"][-1]})
        progress.console.print(f"    return while exploring {history['return'][-1]:.1f}, "
                               f"greedy {history['eval_return'][-1]:.1f}")

    return report


def transitions(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """n transitions (states, actions, rewards, next states, terminal) of a random policy from
    seeded episodes: the replay batches training parity feeds both twins."""
    rng, env, episode = np.random.default_rng(seed), make(), seed
    replay = Replay(n)
    state = env.reset(seed=episode)[0]
    while replay.count < n:
        action = int(rng.integers(ACTIONS))
        next_state, reward, terminated, truncated, _ = env.step(action)
        replay.add(state, action, reward, next_state, float(terminated))
        state = next_state
        if terminated or truncated:
            episode += 1
            state = env.reset(seed=episode)[0]
    return replay.states, replay.actions, replay.rewards, replay.next_states, replay.terminal


def mean_return(q_values, episodes: int = 100) -> float:
    """The test metric: the mean return of `episodes` greedy episodes on seeds 0, 1, ..."""
    return float(greedy_episodes(q_values, np.arange(episodes))[0].mean())


def load(data_dir=None, seed=0):
    """States visited by a uniformly random policy, train and test from disjoint episode seeds;
    the label is the action the random policy took."""

    def states(first_seed: int, n: int):
        rng = np.random.default_rng(first_seed)
        x, y, episode = [], [], first_seed
        env = make()
        while len(x) < n:
            state = env.reset(seed=episode)[0]
            done = False
            while not done and len(x) < n:
                action = int(rng.integers(ACTIONS))
                x.append(state)
                y.append(action)
                state, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
            episode += 1
        return np.asarray(x, np.float32), np.asarray(y, np.int64)

    x_train, y_train = states(100_000 + 2 * seed, 2_000)
    x_test, y_test = states(200_000 + 2 * seed, 512)
    return x_train, y_train, x_test, y_test, f"{ENVIRONMENT} states under a random policy (seed {seed})"
