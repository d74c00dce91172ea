# %% [markdown]
# # 13. Reinforcement learning: a deep Q-network on CartPole
#
# **Goals**
# - write the Bellman target and the TD step with a `GradientTape` and with PyTorch's loop;
# - train a DQN with a replay buffer, a target network and epsilon-greedy exploration;
# - see why DQN is unstable, and run the exported policy under ONNX Runtime.
#
# **Prerequisites**: lesson 1 (a dense network, losses, Adam) and lesson 10 (ONNX exports);
# expected values and discounting.
#
# In **reinforcement learning** nobody labels the data: an agent acts in an environment, gets a
# reward after each action, and must learn which actions pay off later. In CartPole a cart carries
# a hinged pole; each step the agent pushes the cart left or right and earns 1 while the pole stays
# up (at most 500 steps). The state is four numbers: cart position and velocity, pole angle and
# angular velocity.
#
# **Q-learning** learns $Q(s, a)$, the return to expect after taking action $a$ in state $s$ and
# acting well afterwards. It satisfies the Bellman equation
#
# $$Q(s, a) = r + \gamma \max_{a'} Q(s', a')$$
#
# with a discount $\gamma < 1$, so each observed step $(s, a, r, s')$ gives a target to move
# $Q(s, a)$ towards; the difference $\delta = r + \gamma \max_{a'} Q(s', a') - Q(s, a)$ is the
# **temporal-difference (TD) error**. A **deep Q-network** (DQN) is a neural network computing Q(s, .) for
# every action at once, with two tricks that make this stable: a **replay buffer** (learn from
# random old steps, not only the last, correlated ones) and a **target network** (a frozen copy
# that computes the targets, refreshed every few hundred steps, so the target does not move with
# every update). The agent explores **epsilon-greedily**: a random action with probability epsilon,
# $\varepsilon$, decaying from 1 to 0.02, else the best one by $Q$.

# %%
import keras
import numpy as np
import tensorflow as tf
import torch

from xdl.data import cartpole
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a
# function's code shown (show_code), a number recorded for the prose (glue), the committed artifacts' folder
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import exported_models, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("dqn")
env = cartpole.make(seed=0)  # gymnasium.make("CartPole-v1"), reset with a seed
state, _ = env.reset(seed=0)
print("a state:", state.round(3), " actions:", env.action_space)
rng = np.random.default_rng(0)
random_returns = []
for episode in range(20):
    env.reset(seed=episode)
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
        total, done = total + reward, terminated or truncated
    random_returns.append(total)
print(f"a random policy keeps the pole up for {np.mean(random_returns):.1f} steps on average")
glue("random_return", np.mean(random_returns))

# %% keras: the Q-network
from xdl.models.dqn import keras as dqn_keras

show_code(dqn_keras.build)

# %% torch: the Q-network
from xdl.models.dqn import torch as dqn_torch

show_code(dqn_torch.QNetwork)

# %% [markdown]
# ## The update: one TD step
# Both frameworks compute the same thing: the target $r + \gamma \max_{a'} Q_\text{target}(s', a')$
# (no future term after the pole fell), the Q-value of the action actually taken, and a Huber loss between them
# (squared for small errors, linear for large ones, so one surprising step cannot blow up the
# weights). Keras: a `GradientTape` around the forward pass, `tf.gather` to pick the action's
# Q-value, `apply_gradients`. PyTorch: the target under `no_grad()`, `gather(1, ...)`, `backward()`
# and `step()`. The target network is a copy: `clone_model` + `set_weights` / `copy.deepcopy`.

# %%
GAMMA, BATCH, LR = 0.99, 64, 1e-3
show_code(cartpole.Replay)  # the replay buffer: plain numpy, shared by both

# %% keras: GradientTape
keras.utils.set_random_seed(0)
q_keras = dqn_keras.build(spec)
target_keras = keras.models.clone_model(q_keras)
target_keras.set_weights(q_keras.get_weights())
optimizer_keras = keras.optimizers.Adam(learning_rate=LR, epsilon=1e-7)
huber_keras = keras.losses.Huber(delta=1.0)


@tf.function
def keras_step(states, actions, rewards, next_states, terminal):
    goal = rewards + GAMMA * (1.0 - terminal) * tf.reduce_max(target_keras(next_states), axis=1)
    with tf.GradientTape() as tape:
        q = tf.gather(q_keras(states, training=True), actions, axis=1, batch_dims=1)
        loss = huber_keras(goal, q)
    optimizer_keras.apply_gradients(zip(tape.gradient(loss, q_keras.trainable_variables), q_keras.trainable_variables))
    return loss


keras_agent = {"q_values": tf.function(lambda s: q_keras(s, training=False)),
               "learn": lambda batch: float(keras_step(*batch)),
               "sync": lambda: target_keras.set_weights(q_keras.get_weights())}

# %% torch: the loop's step written out
import copy

torch.manual_seed(0)
q_torch = dqn_torch.build(spec)
target_torch = copy.deepcopy(q_torch)
optimizer_torch = torch.optim.Adam(q_torch.parameters(), lr=LR, eps=1e-7)
huber_torch = torch.nn.HuberLoss(delta=1.0)


def torch_step(states, actions, rewards, next_states, terminal):
    states, actions, rewards, next_states, terminal = map(torch.from_numpy, (states, actions, rewards, next_states, terminal))
    with torch.no_grad():
        goal = rewards + GAMMA * (1.0 - terminal) * target_torch(next_states).amax(dim=1)
    q = q_torch(states).gather(1, actions[:, None])[:, 0]
    loss = huber_torch(q, goal)
    optimizer_torch.zero_grad()
    loss.backward()
    optimizer_torch.step()
    return loss.item()


def torch_q_values(states):
    with torch.no_grad():
        return q_torch(torch.from_numpy(states))


torch_agent = {"q_values": torch_q_values, "learn": lambda batch: torch_step(*batch),
               "sync": lambda: target_torch.load_state_dict(q_torch.state_dict())}

# %% [markdown]
# ## Acting and learning
# The loop is the same for both agents and has no framework in it: act (epsilon-greedy), store the
# step, learn from a random batch of old steps, refresh the target every 200 steps. The random
# numbers (exploration, batch sampling) come from one numpy generator seeded the same for both,
# so the two agents differ only by their initial weights and arithmetic. 12,000 steps here; the
# recipe (`xdl train dqn`) runs 25,000 and keeps the round whose greedy episodes went best.

# %%
def train_agent(agent, steps=lesson_size(12_000, quick=1_500), seed=0):  # learning starts at 1,000
    rng, replay = np.random.default_rng(seed), cartpole.Replay(20_000)
    env = cartpole.make(seed)
    state, _ = env.reset(seed=seed)
    returns, total = [], 0.0
    for step in range(steps):
        epsilon = max(0.02, 1.0 - 0.98 * step / 10_000)
        if step < 1_000 or rng.random() < epsilon:
            action = int(rng.integers(2))
        else:
            action = int(np.argmax(agent["q_values"](state[None].astype(np.float32))))
        next_state, reward, terminated, truncated, _ = env.step(action)
        replay.add(state, action, reward, next_state, float(terminated))  # a time limit is not a fall
        state, total = next_state, total + reward
        if terminated or truncated:
            returns.append(total)
            (state, _), total = env.reset(), 0.0
        if step >= 1_000:
            agent["learn"](replay.sample(rng, BATCH))
            if step % 200 == 0:
                agent["sync"]()
    return returns


curves = {"keras": train_agent(keras_agent), "torch": train_agent(torch_agent)}
greedy = {"keras": lambda s: keras_agent["q_values"](s).numpy(), "torch": lambda s: torch_q_values(s).numpy()}
for name in curves:
    returns, _ = cartpole.greedy_episodes(greedy[name], seeds=np.arange(20))
    print(f"{name}: {len(curves[name])} training episodes; 20 greedy episodes after training: mean return {returns.mean():.1f}")
    glue(f"dqn_{name}_here", returns.mean())
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, returns in curves.items():
    ax.plot(np.cumsum([0, *returns])[1:], returns, label=f"{name} (exploring)")
ax.axhline(np.mean(random_returns), color="grey", linestyle=":", label="random policy")
ax.set_xlabel("environment step")
ax.set_ylabel("episode return")
ax.legend()
save_figure(fig, "13_dqn_training")

# %% [markdown]
# DQN is famously unstable: a policy that balances for 500 steps can forget it a few thousand
# updates later (the figure usually shows returns that climb, then fall back). That is why the
# recipe evaluates greedily after every 1,000 steps and keeps the best round, and why the twins'
# final numbers differ more than for supervised models. Even the same start is no cure: Keras given
# PyTorch's initial weights (and the same exploration) repeats PyTorch's run step for step, until
# the last bits in which TensorFlow and PyTorch round differently have grown enough to change an
# action; from then on the two agents gather different experience (measured on seven seeds in
# `xdl/spec/zoo/dqn.py`). The committed full runs:

# %%
from xdl import artifacts

for framework in ("keras", "torch"):
    manifest = artifacts.read_manifest(exported_models() / "dqn" / framework)  # read and checked
    check, mean_return = manifest.policy_check, manifest.metrics["test_mean_return"]
    verdict = ("solves CartPole" if mean_return >= cartpole.SOLVED
               else f"does not solve CartPole (that takes {cartpole.SOLVED:.0f})")
    print(f"{framework}: mean return over 100 greedy episodes {mean_return:.1f}: {verdict}; "
          f"the exported policy under ONNX Runtime: "
          f"{check['onnx_mean_return']:.1f}, {check['actions_differ']} of {check['steps']} actions differ, "
          f"{check['episodes_diverged']} episodes parted, {check['returns_differ']} returns differ")
    glue(f"dqn_{framework}_committed", mean_return)

# %% [markdown]
# CartPole counts as **solved** at a mean return of 475 over 100 episodes (gymnasium's threshold;
# an episode ends at 500). PyTorch's committed policy averages {glue:text}`dqn_torch_committed:.1f`,
# so it solves it; Keras's averages {glue:text}`dqn_keras_committed:.1f`, well above the random
# policy's {glue:text}`random_return:.1f` but short of 475: it does **not** solve CartPole. Both came
# from the same recipe; which run ends up solving it is the instability described above (on seven
# training seeds PyTorch solved it three times, Keras twice: `xdl/spec/zoo/dqn.py`). The spec asks
# only for 195, CartPole-v0's old threshold, and allows the twins a gap of 250 for that reason.
# The agents trained in this page, with
# 12,000 steps instead of 25,000 and no best round kept, reached {glue:text}`dqn_keras_here:.1f`
# (Keras) and {glue:text}`dqn_torch_here:.1f` (PyTorch) over 20 greedy episodes.
#
# ## Deploying the policy
# The exported Q-network is the whole policy: feed the state, take the argmax. ONNX Runtime drives
# the environment here with the committed artifact. When its actions differ from the native
# twin's, it is at near-ties between the two Q-values, where float rounding decides; from that
# step on the two plays are different episodes, and `xdl export` checks their returns match.

# %%
from xdl import verify

art = artifacts.load(exported_models() / "dqn" / "torch")
session = verify.session(art.model_bytes, "cpu")
returns, actions = cartpole.greedy_episodes(lambda s: session.run(None, {"state": s})[0], seeds=[7])
print(f"ONNX Runtime's policy, seed 7: return {returns[0]:.0f}; first actions {actions[0, :20].tolist()}")

# %% [markdown]
# ## Exercises
# 1. Set `GAMMA` to 0.9 and to 0.999 and train again: how far ahead does each agent look
#    ($1 / (1 - \gamma)$ steps), and how does that change the returns?
# 2. Remove the target network (use `q_keras` / `q_torch` for the targets too, no `sync`): does
#    training still climb, and is it steadier or less so?
# 3. Replace the Huber loss with squared error (`keras.losses.MeanSquaredError`,
#    `torch.nn.MSELoss`) and print the largest TD error of each batch: which loss keeps the updates small?
