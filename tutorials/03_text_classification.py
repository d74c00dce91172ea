# %% [markdown]
# # 3. Embeddings and text classification: the text CNN
#
# Words become numbers twice. First a vocabulary maps each word to an id (here, like
# `keras.datasets.imdb`: 0 pads, 1 starts a review, 2 is an unknown word). Then an
# **embedding** maps each id to a learned vector of 64 numbers; words used alike end up with
# similar vectors. A 1-D convolution over those vectors reads short phrases, "not very good",
# which is what the `sentiment` reviews need: half their opinions are negated, so counting words
# gets nowhere. We train the articles' text CNN in both frameworks and score it with the
# measures the articles list: accuracy, precision, recall, F1 and AUC.
#
# **Goals**
# - turn text into token ids and ids into learned vectors (embeddings)
# - read a 1-D convolution over a sentence, in Keras's channels-last and PyTorch's channels-first
#   layout
# - train a binary classifier with a sigmoid and `binary_crossentropy` in Keras, with
#   `BCEWithLogitsLoss` in PyTorch, and say why the two losses are the same number
# - compute accuracy, precision, recall, F1 and AUC by hand
#
# **Prerequisites**: lessons 1 and 2, `01_first_network` (losses, `compile()` + `fit()` against a
# PyTorch loop) and `02_convolution` (convolution and pooling).

# %%
import keras
import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from xdl import data
from xdl.data import sentiment
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's code
# shown (show_code), a number recorded for the prose (glue), the committed twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("textcnn")
reviews = data.load("sentiment", seed=0, validation_split=0.1).subset(train=lesson_size(9_000, quick=2_000))
words = ["<pad>", "<start>", "<unknown>", *sentiment.vocabulary()]
first = reviews.x_train[0]
print("a review, as the model sees it:", first[first > 0][:30], "...")
print("as words:", " ".join(words[i] for i in first[first > 0]))
print("label:", "positive" if reviews.y_train[0] else "negative")

# %% keras: the model
from xdl.models.textcnn import keras as textcnn_keras

show_code(textcnn_keras.build)

# %% torch: the model (Conv1d wants channels before time: one transpose)
from xdl.models.textcnn import torch as textcnn_torch

show_code(textcnn_torch.TextCNN)

# %% [markdown]
# ## Training both, three epochs
# Binary cross-entropy on one sigmoid output: for a label $y \in \{0, 1\}$ and a logit $z$, with
# $p = \sigma(z)$, the loss is $-[y \log p + (1 - y) \log(1 - p)]$. Keras:
# `Dense(1, activation="sigmoid")` and `loss="binary_crossentropy"`; PyTorch: a logit and
# `BCEWithLogitsLoss`, which computes the same number from $z$ directly, as
# $\max(z, 0) - z y + \log(1 + e^{-|z|})$, without the $\log 0$ a saturated sigmoid would give; the
# sigmoid is added at inference. Adam at the recipe's 1e-3, batch 128. The recipe trains 6 epochs
# and keeps the best one; three are enough here to see the metrics (the committed twins' numbers
# are below).

# %% keras: compile() and fit()
keras.utils.set_random_seed(0)
keras_model = textcnn_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7), loss="binary_crossentropy")
keras_model.fit(reviews.x_train, reviews.y_train.astype("float32"), batch_size=128, epochs=lesson_size(3), verbose=0)
keras_scores = keras_model.predict(reviews.x_test, verbose=0).ravel()  # probabilities: the sigmoid is in the model

# %% torch: the loop, written out
torch.manual_seed(0)
torch_model = textcnn_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = torch.nn.BCEWithLogitsLoss()  # sigmoid + binary cross-entropy, fused
x, y = torch.from_numpy(reviews.x_train), torch.from_numpy(reviews.y_train).float().unsqueeze(1)
for epoch in range(lesson_size(3)):
    torch_model.train()
    for idx in torch.randperm(len(x)).split(128):
        loss = loss_fn(torch_model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
torch_model.eval()
with torch.no_grad():  # the sigmoid, added at inference
    torch_scores = torch.sigmoid(torch_model(torch.from_numpy(reviews.x_test))).numpy().ravel()
outputs = {"keras": keras_scores, "torch": torch_scores}

# %% [markdown]
# ## Evaluation metrics
# With a threshold of 0.5, counting true positives $TP$, false positives $FP$ and false negatives
# $FN$: **precision** $= TP / (TP + FP)$ is the share of reviews called positive that are;
# **recall** $= TP / (TP + FN)$ the share of positive reviews found; **F1**
# $= 2 \cdot \text{precision} \cdot \text{recall} / (\text{precision} + \text{recall})$ their harmonic mean.
# **AUC** needs no threshold: the chance that a random positive review scores above a random
# negative one.

# %%
y = reviews.y_test
for name, p in outputs.items():
    predicted = p > 0.5
    tp, fp, fn = (predicted & (y == 1)).sum(), (predicted & (y == 0)).sum(), (~predicted & (y == 1)).sum()
    # a model that calls no review positive has no precision: 0, as scikit-learn counts it
    precision, recall = (tp / (tp + fp) if tp + fp else 0.0), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    auc = roc_auc_score(y, p)
    glue(f"textcnn_{name}_auc", auc)
    glue(f"textcnn_{name}_acc", (predicted == y).mean())
    print(f"{name}: accuracy {(predicted == y).mean():.4f}  precision {precision:.4f}  recall {recall:.4f}  "
          f"F1 {f1:.4f}  AUC {auc:.4f}")
print("5% of the labels were flipped on purpose (inconsistent reviewers): about 0.95 is the ceiling")
full = committed("textcnn")  # xdl.teach.helpers: the committed twins' test AUC, from their manifests
print(f"committed twins (6 epochs, the best kept): AUC keras {full['keras']:.4f}, torch {full['torch']:.4f}")
glue("textcnn_committed_keras_auc", full["keras"])
glue("textcnn_committed_torch_auc", full["torch"])

# %% [markdown]
# After three epochs Keras's AUC is {glue:text}`textcnn_keras_auc:.3f` and PyTorch's
# {glue:text}`textcnn_torch_auc:.3f` (accuracy {glue:text}`textcnn_keras_acc:.3f` and
# {glue:text}`textcnn_torch_acc:.3f`). The committed twins, trained with the recipe's 6 epochs
# and the best epoch kept by validation loss, reach {glue:text}`textcnn_committed_keras_auc:.3f`
# and {glue:text}`textcnn_committed_torch_auc:.3f`. The loss sits at $\ln 2$ (a coin toss) for the
# first steps, until the network finds the negation pattern; when that happens depends on each
# framework's own initial weights and shuffles, so after a short run the twins can be further
# apart than after the full one.

# %% [markdown]
# ## What the embeddings learned
# The 64-number vectors of the opinion words, projected on their two main directions: positive
# and negative adjectives separate, negators sit on their own. Nobody told the model which word
# means what; only the labels of whole reviews.

# %%
table = keras_model.get_layer("embedding").get_weights()[0]  # (10000 words, 64 numbers)
groups = {"positive": sentiment.POSITIVE, "negative": sentiment.NEGATIVE, "negators": sentiment.NEGATORS}
ids = {g: [words.index(w) for w in ws] for g, ws in groups.items()}
vectors = table[sum(ids.values(), [])]
centred = vectors - vectors.mean(0)
_, _, axes = np.linalg.svd(centred, full_matrices=False)
points = centred @ axes[:2].T
fig, ax = plt.subplots(figsize=(6, 4))
start = 0
for group, members in ids.items():
    xy = points[start : start + len(members)]
    ax.scatter(xy[:, 0], xy[:, 1], label=group)
    for (px, py), word in zip(xy, groups[group]):
        ax.annotate(word, (px, py), fontsize=7)
    start += len(members)
ax.legend()
ax.set_title("textcnn (Keras) word embeddings, first two principal directions")
save_figure(fig, "03_embeddings")

# %% [markdown]
# ## Exercises
# 1. Lower the threshold from 0.5 to 0.3 in the metrics cell: which of precision and recall
#    rises, which falls, and does the AUC change?
# 2. Add `"good"`, `"bad"` and `"not"` to a list and print their cosine similarities from the
#    embedding table (`table[words.index(w)]`): which pair is closest?
# 3. Train for the recipe's 6 epochs instead of 3 (`lesson_size(6)` in both training cells): how
#    close do the two AUCs come to each other and to the committed twins'?
