"""dqn: a Q-network trained by deep Q-learning (replay buffer, target network, epsilon-greedy) on
gymnasium's CartPole-v1."""

from xdl.spec.datasets import CARTPOLE_ACTIONS as ACTIONS
from xdl.spec.datasets import CARTPOLE_STATE as STATE
from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="dqn",
    task="control",
    lesson=Lesson(
        tutorial="13_reinforcement_learning",
        summary="state (4) -> Dense 64 relu -> Dense 64 relu -> Dense(2): Q-values of pushing left, right",
    ),
    contract=Contract(
        # Cart position, cart velocity, pole angle, angular velocity. The pole falls past +-0.21 rad, the
        # cart leaves past +-2.4; fresh test states are drawn from +-2, wider than most of what an
        # episode visits.
        inputs=(TensorSpec("state", (None, STATE), domain=(-2.0, 2.0)),),
        # Q-values: the expected discounted return after each action; unbounded (up to about 100).
        outputs=(TensorSpec("q_values", (None, ACTIONS), domain=(-10.0, 110.0), kind="regression"),),
    ),
    recipe=Recipe(
        dataset="cartpole",
        datasets=("cartpole",),
        environment="cartpole",  # where the agent plays: trained, scored and checked at export
        optimizer="adam",
        lr=1e-3,
        batch_size=64,
        # An "epoch" here is a round of 1,000 environment steps (xdl.data.cartpole.Schedule), each
        # followed by 10 greedy episodes that decide the checkpoint. Classic CartPole DQN runs take
        # 100,000 to 500,000 steps; 25 rounds (25,000 steps, one update each after 1,000 random
        # ones) is what `xdl all`'s time allows.
        epochs=25,
        quick_train_samples=512,  # states for the quick test vectors; training is by environment steps
        quick_epochs=4,  # 3,000 updates after the 1,000 random steps: CI's check that it learns
    ),
    expectations=Expectations(
        # dense1 4*64+64 = 320; dense2 64*64+64 = 4,160; q 64*2+2 = 130
        param_count=4_610,
        # The test metric: the mean return over 100 greedy episodes (seeds 0-99), at most 500. The task
        # counts as solved at 475. Training seeds 0-6, measured: PyTorch 500, 499, 447, 287, 500, 313,
        # 255; Keras 285, 490, 221, 211, 247, 500, 249 (seed 0 is the committed run). The same start
        # does not make them one run: Keras given PyTorch's initial weights scored 200, 495, 269, 160,
        # 500, 270, 157; its seed-0 run evaluated exactly as PyTorch's for two rounds and parted in the
        # third, as rounding differences grew and changed actions. Each step's update is the same to 1e-7
        # (Keras's Adam rule written in PyTorch; with it PyTorch scored 500, 500, 500, 311, 500, 214,
        # 407), so we know no cause for Keras's lower runs beyond chance (14 runs each: means 304 and
        # 410). The goal is the old CartPole-v0 threshold, which every run from a twin's own start passed.
        goal=195.0,
        # DQN is unstable at this length: greedy returns swing between about 20 and 500 from one round
        # to the next in both twins, so which round the checkpoint catches decides the metric. 250 is
        # half the scale: the margin catches a twin that did not learn, not the luck of its best round.
        # Seeds 0-6 put the twins 215, 9, 226, 76, 253, 187 and 6 apart: a retrain on another CPU (other
        # rounding, so another run) lands beyond it about one time in seven, which `xdl all` reports.
        margin=250.0,
    ),
)
