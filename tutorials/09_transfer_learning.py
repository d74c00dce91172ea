# %% [markdown]
# # 9. Transfer learning and fine-tuning
#
# A network trained on one task has learned features (edges, corners, curves) that serve other
# tasks too. **Transfer learning** reuses it: freeze the pretrained layers, put a new head on top,
# train only the head on the new task. **Fine-tuning** then thaws the top of the backbone and
# trains it with the head at a low learning rate, adapting the highest features without
# wrecking them. Here the "pretrained model" is trained on `shapes`' first five classes and
# reused for the other five.

# %%
import dataclasses
import tempfile
from pathlib import Path

from xdl import backends, data, training
from xdl.spec import registry, tasks
from xdl.teach.helpers import pyplot, save_figure

plt = pyplot()
spec = registry.get("transfer")
for phase in spec.phases:
    print(f"{phase.name:9s} on {phase.dataset}: trains {phase.trainable or 'everything'}, lr {phase.lr:g}"
          + (f", re-initialises {phase.reset}" if phase.reset else ""))

# %% [markdown]
# ## Freezing means different things
# In Keras, `layer.trainable = False` on a BatchNormalization also switches it to inference mode:
# it normalises with its stored statistics and stops updating them. In PyTorch,
# `requires_grad = False` only stops the weights: in `train()` mode the BatchNorm still normalises
# with the batch's statistics and moves its running averages, so the "frozen" backbone changes
# under the new head. It must be put in `eval()` by hand; xdl's loop does so for every BatchNorm
# with no trainable parameter.

# %% keras: freezing
# for layer in model.layers: layer.trainable = layer.name in ("head",)
# model.compile(...)   # trainable changes take effect at compile time
import inspect

print(inspect.getsource(backends.load("keras").set_trainable))

# %% torch: freezing
# for name, p in model.named_parameters(): p.requires_grad = name.startswith("head.")
# model.train(); [bn.eval() for bn in frozen_batchnorms]   # after every model.train()
print(inspect.getsource(backends.load("torch").set_trainable))
print(inspect.getsource(backends.load("torch").frozen_batchnorm_to_eval))

# %% [markdown]
# ## The three phases in both frameworks (shortened: 6, 4 and 3 epochs instead of 12, 8 and 6)

# %%
short = dataclasses.replace(spec, phases=tuple(dataclasses.replace(p, epochs=e) for p, e in zip(spec.phases, (6, 4, 3))))
target = data.load("shapes-b", seed=0, validation_split=0.1)
results = {}
for name in ("keras", "torch"):
    fw = backends.load(name)
    fw.seed_everything(0)
    net = fw.build(short)
    accuracy = []

    def score(phase, net, fw=fw, accuracy=accuracy, name=name):
        probs = fw.predict(net, short, target.x_test)
        accuracy.append(tasks.score("classification", probs, target.x_test, target.y_test))
        print(f"{name} after {phase.name:9s}: accuracy on the NEW classes {accuracy[-1]:.3f}")

    # What `xdl train transfer` runs: per phase, set_trainable, reinitialise the new head, train.
    training.train_phases(short, name, net, checkpoint=Path(tempfile.mkdtemp()) / f"b.{fw.WEIGHTS_FILE}",
                          show_progress=False, after_phase=score)
    results[name] = accuracy

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, accuracy in results.items():
    ax.plot([p.name for p in short.phases], accuracy, marker="o", label=name)
ax.set_ylabel("test accuracy on the second five classes")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("after pretraining the head is random: chance is 0.2")
save_figure(fig, "09_transfer_phases")
