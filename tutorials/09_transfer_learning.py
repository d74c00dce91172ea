# %% [markdown]
# # 9. Transfer learning and fine-tuning
#
# **Goals**
# - freeze a pretrained backbone, train a new head, then fine-tune: `trainable` against `requires_grad`;
# - see what "frozen" means for BatchNorm in each framework, and put PyTorch's in `eval()` by hand;
# - compare a short run's twins with the committed ones.
#
# **Prerequisites**: lesson 2 (convolutions, overfitting) and lesson 6 (batch normalisation, `train()` / `eval()`).
#
# A network trained on one task has learned features (edges, corners, curves) that serve other
# tasks too. **Transfer learning** reuses it: freeze the pretrained layers, put a new head on top,
# train only the head on the new task. **Fine-tuning** then thaws the top of the backbone and
# trains it with the head at a low learning rate, adapting the highest features without
# wrecking them. Here the "pretrained model" is trained on `shapes`' first five classes and
# reused for the other five.

# %%
import keras
import torch

from xdl import data
from xdl.models.transfer import keras as transfer_keras
from xdl.models.transfer import torch as transfer_torch
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), the committed
# twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, lesson_size, pyplot, save_figure

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("transfer")
for phase in spec.recipe.phases:
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

# %% [markdown]
# ## The three phases in both frameworks (shortened: 6, 4 and 3 epochs instead of 12, 8 and 6)
# Each phase names the layers that train (`None`: all), the learning rate and the data; the
# second also re-initialises the head, whose five outputs now mean five other classes.

# %%
source_task = data.load("shapes-a", seed=0).subset(train=lesson_size(3_000, quick=1_000))
target = data.load("shapes-b", seed=0).subset(train=lesson_size(3_000, quick=1_000))
phases = [(phase, {"pretrain": source_task}.get(phase.name, target), epochs)
          for phase, epochs in zip(spec.recipe.phases, (lesson_size(6), lesson_size(4), lesson_size(3)))]


def nchw(images):
    """Channels-last (xdl's data, Keras's layout) to channels-first (PyTorch's)."""
    return torch.from_numpy(images.transpose(0, 3, 1, 2).copy())


# %% keras: freezing is trainable = False, and takes effect at compile()
keras.utils.set_random_seed(0)
keras_model = transfer_keras.build(spec)
results = {"keras": []}
for phase, task, epochs in phases:
    if phase.reset:  # a fresh head: the weights a newly built model would start from
        keras_model.get_layer("head").set_weights(transfer_keras.build(spec).get_layer("head").get_weights())
    for layer in keras_model.layers:
        layer.trainable = phase.trainable is None or layer.name in phase.trainable  # a frozen BatchNorm also stops updating
    keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=phase.lr, epsilon=1e-7),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_model.fit(task.x_train, task.y_train, batch_size=128, epochs=epochs, verbose=0)
    results["keras"].append(keras_model.evaluate(target.x_test, target.y_test, verbose=0)[1])
    print(f"keras after {phase.name:9s}: accuracy on the NEW classes {results['keras'][-1]:.3f}")

# %% torch: freezing is requires_grad = False, and a frozen BatchNorm must be put in eval() by hand
torch.manual_seed(0)
torch_model = transfer_torch.build(spec)
loss_fn = torch.nn.CrossEntropyLoss()
results["torch"] = []
for phase, task, epochs in phases:
    if phase.reset:
        torch_model.head.load_state_dict(transfer_torch.build(spec).head.state_dict())
    for name, parameter in torch_model.named_parameters():
        parameter.requires_grad = phase.trainable is None or name.split(".")[0] in phase.trainable
    optimizer = torch.optim.Adam([p for p in torch_model.parameters() if p.requires_grad], lr=phase.lr, eps=1e-7)
    x, y = nchw(task.x_train), torch.from_numpy(task.y_train)
    for epoch in range(epochs):
        torch_model.train()
        for module in torch_model.modules():  # what Keras does for a frozen BatchNorm
            if isinstance(module, torch.nn.BatchNorm2d) and not module.weight.requires_grad:
                module.eval()
        for idx in torch.randperm(len(x)).split(128):
            loss = loss_fn(torch_model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    torch_model.eval()
    with torch.no_grad():
        results["torch"].append((torch_model(nchw(target.x_test)).argmax(1).numpy() == target.y_test).mean())
    print(f"torch after {phase.name:9s}: accuracy on the NEW classes {results['torch'][-1]:.3f}")

# %% [markdown]
# ## Why the twins end apart here
# The phases are cut to half their epochs, and each twin starts from its own random weights (each
# framework draws them with its own generator), so each reaches a different point of a curve that
# is still rising after fine-tuning. With the full recipe the committed twins end within the
# margin their spec states:

# %%
full = committed("transfer")  # xdl.teach.helpers: the committed twins' test metric, from their manifests
here = {name: accuracy[-1] for name, accuracy in results.items()}
print(f"here: keras {here['keras']:.3f}, torch {here['torch']:.3f}, gap {abs(here['keras'] - here['torch']):.3f}")
print(f"committed: keras {full['keras']:.3f}, torch {full['torch']:.3f}, gap {abs(full['keras'] - full['torch']):.3f} "
      f"(the spec's margin {spec.expectations.margin})")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, accuracy in results.items():
    ax.plot([p.name for p in spec.recipe.phases], accuracy, marker="o", label=name)
ax.set_ylabel("test accuracy on the second five classes")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("after pretraining the head is random: chance is 0.2")
save_figure(fig, "09_transfer_phases")

# %% [markdown]
# ## Exercises
# 1. Skip the pretraining phase (start the backbone from random weights): how much accuracy on the new
#    classes does pretraining buy after the head and fine-tuning phases?
# 2. In the PyTorch loop, remove the lines that put frozen BatchNorms in `eval()`: print a BatchNorm's
#    `running_mean` before and after the head phase, and the accuracy, with and without them.
# 3. Fine-tune at ten times the recipe's learning rate: does the accuracy on the new classes rise or fall?
