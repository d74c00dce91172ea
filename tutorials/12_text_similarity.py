# %% [markdown]
# # 12. Text similarity: a siamese network
#
# **Goals**
# - build a siamese network: one encoder called on both sentences, its parameters counted once;
# - check that a shared layer's gradient is the sum of both branches' (`stop_gradient` / `.detach()`);
# - export a model with two inputs of independent lengths.
#
# **Prerequisites**: lesson 3 (embeddings, 1-D convolutions, binary cross-entropy).
#
# Do two sentences mean the same? A **siamese** network answers with one encoder that reads both
# sentences: the same embedding, the same convolution, the **same weights**, called twice. Each
# sentence becomes 32 numbers; a small head compares the two encodings through their absolute
# difference and their product (both symmetric: swapping the sentences cannot change the answer)
# and outputs the probability that they are paraphrases. Because the weights are shared, what
# the encoder learns about "never" from the first sentence it knows for the second, and the
# model has half the parameters two encoders would need.
#
# The `paraphrases` pairs are generated from the sentiment reviews' vocabulary: a paraphrase says
# the same thing in other words ("the plot was not very good" / "the plot seemed never great"); a
# near miss changes one thing: the subject, the adjective's direction, or the negation.

# %%
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import torch

from xdl import data
from xdl.data import sentiment
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's code
# (show_code), a number recorded for the prose (glue), the committed twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("similarity")
pairs = data.load("paraphrases", seed=0, validation_split=0.1)
words = ["<pad>", "<start>", "<unknown>", *sentiment.vocabulary()]


def text(ids):
    return " ".join(words[i] for i in ids if i > 1)  # without padding and the start id


for (a, b), label in list(zip(pairs.x_train, pairs.y_train))[:6]:
    print(f"{'same     ' if label else 'different'}  {text(a)!r:45}  {text(b)!r}")
print("pairs:", pairs.x_train.shape, "(pair, sentence, token);", f"{pairs.y_train.mean():.0%} are paraphrases")

# %% keras: one encoder model, called on both inputs
from xdl.models.similarity import keras as similarity_keras

show_code(similarity_keras.build)

# %% torch: one encoder module, called twice in forward()
from xdl.models.similarity import torch as similarity_torch

show_code(similarity_torch.Similarity)

# %% [markdown]
# ## One set of weights, counted once
# Keras counts a layer's weights once however many times the layer is called; PyTorch's
# `parameters()` yields each `Parameter` object once. Two separate encoders would add the encoder's
# parameters a second time.

# %% keras: count_params()
keras.utils.set_random_seed(0)
keras_model = similarity_keras.build(spec)
encoder_k = keras_model.get_layer("encoder")
print("whole model:", keras_model.count_params(), " encoder:", encoder_k.count_params(),
      " with two encoders it would be:", keras_model.count_params() + encoder_k.count_params())

# %% torch: sum(p.numel() for p in parameters())
torch.manual_seed(0)
torch_model = similarity_torch.build(spec)
count = sum(p.numel() for p in torch_model.parameters())
encoder_count = sum(p.numel() for p in torch_model.encoder.parameters())
print("whole model:", count, " encoder:", encoder_count, " with two encoders it would be:", count + encoder_count)

# %% [markdown]
# ## The gradient arrives from both branches
# Backpropagation through a shared layer adds up what each use of it contributes. We check that
# on one batch: the embedding's gradient equals the gradient with sentence b's branch cut off
# (only a's contribution) plus the gradient with a's branch cut off. Keras cuts a branch with
# `keras.ops.stop_gradient`, PyTorch with `.detach()`; both run the model's own layers by hand.
# (Equal up to float rounding: TensorFlow adds the two branches' sparse row updates in another
# order than the one we add them in.)

# %%
a, b = pairs.x_train[:64, 0], pairs.x_train[:64, 1]
same = pairs.y_train[:64].astype("float32").reshape(-1, 1)

# %% keras: tf.GradientTape, one branch stopped at a time tags=["concept:siamese-gradients"]
def keras_loss(cut=None):
    ea, eb = encoder_k(a), encoder_k(b)
    ea = keras.ops.stop_gradient(ea) if cut == "a" else ea
    eb = keras.ops.stop_gradient(eb) if cut == "b" else eb
    layer = keras_model.get_layer
    features = layer("features")([layer("difference")([ea, eb]), layer("product")([ea, eb])])
    return keras.ops.mean(keras.losses.binary_crossentropy(same, layer("dense")(layer("hidden")(features))))


table_k = encoder_k.get_layer("embedding").embeddings
grads_k = {}
for cut in (None, "b", "a"):
    with tf.GradientTape() as tape:
        loss = keras_loss(cut)
    grads_k[cut] = tf.convert_to_tensor(tape.gradient(loss, table_k)).numpy()  # sparse rows -> a dense table
gap = float(np.abs(grads_k["b"] + grads_k["a"] - grads_k[None]).max())
print("keras: |from a + from b - both| =", gap, " |both| =", float(np.abs(grads_k[None]).max()))
assert gap <= 1e-5 * np.abs(grads_k[None]).max(), "the shared embedding's gradient is not the sum of its branches'"

# %% torch: backward(), one branch detached at a time tags=["concept:siamese-gradients"]
def torch_loss(cut=None):
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ea, eb = torch_model.encoder(ta), torch_model.encoder(tb)
    ea = ea.detach() if cut == "a" else ea
    eb = eb.detach() if cut == "b" else eb
    features = torch.cat([(ea - eb).abs(), ea * eb], dim=1)
    logit = torch_model.dense(torch_model.relu(torch_model.hidden(features)))
    return torch.nn.BCEWithLogitsLoss()(logit, torch.from_numpy(same))


grads_t = {}
for cut in (None, "b", "a"):
    torch_model.zero_grad()
    torch_loss(cut).backward()
    grads_t[cut] = torch_model.encoder.embedding.weight.grad.numpy().copy()
gap = float(np.abs(grads_t["b"] + grads_t["a"] - grads_t[None]).max())
print("torch: |from a + from b - both| =", gap, " |both| =", float(np.abs(grads_t[None]).max()))
assert gap <= 1e-5 * np.abs(grads_t[None]).max(), "the shared embedding's gradient is not the sum of its branches'"

# %% [markdown]
# ## Training: two inputs, one label
# Binary cross-entropy as in lesson 3, on pairs. Adam at the recipe's 2e-3, batch 64, 3 epochs
# (the recipe's 5 add little: the committed twins reach a test AUC of
# {glue:text}`similarity_keras_committed:.3f` and {glue:text}`similarity_torch_committed:.3f`, this
# page's {glue:text}`similarity_keras_auc:.3f` and {glue:text}`similarity_torch_auc:.3f`). Keras's `fit` takes the two inputs as a list; PyTorch's forward
# takes two arguments. Both keep the weights of the epoch with the lowest validation loss.

# %% keras: compile() and fit([a, b], same)
keras.utils.set_random_seed(0)
keras_model = similarity_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3, epsilon=1e-7), loss="binary_crossentropy",
                    metrics=["accuracy"])
best_keras = Path(tempfile.mkdtemp()) / "best.weights.h5"  # a scratch folder: nothing left behind
best = keras.callbacks.ModelCheckpoint(best_keras, save_best_only=True, save_weights_only=True)
fit = keras_model.fit([pairs.x_train[:, 0], pairs.x_train[:, 1]], pairs.y_train, batch_size=64, epochs=lesson_size(3),
                      validation_data=([pairs.x_val[:, 0], pairs.x_val[:, 1]], pairs.y_val), callbacks=[best], verbose=0)
keras_model.load_weights(best_keras)
curves = {"keras": fit.history["val_loss"]}

# %% torch: model(a, b), the loop written out
torch.manual_seed(0)
torch_model = similarity_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=2e-3, eps=1e-7)
loss_fn = torch.nn.BCEWithLogitsLoss()
x, y = torch.from_numpy(pairs.x_train), torch.from_numpy(pairs.y_train).float().unsqueeze(1)
xv, yv = torch.from_numpy(pairs.x_val), torch.from_numpy(pairs.y_val).float().unsqueeze(1)
curves["torch"], best_state = [], None
for epoch in range(lesson_size(3)):
    torch_model.train()
    for idx in torch.randperm(len(x)).split(64):
        loss = loss_fn(torch_model(x[idx, 0], x[idx, 1]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch_model.eval()
    with torch.no_grad():
        curves["torch"].append(loss_fn(torch_model(xv[:, 0], xv[:, 1]), yv).item())
    if curves["torch"][-1] == min(curves["torch"]):
        best_state = {k: v.clone() for k, v in torch_model.state_dict().items()}
torch_model.load_state_dict(best_state)
torch_model.eval()  # the restored best weights, for inference (and no stray return value shown)

# %%
from sklearn.metrics import roc_auc_score

test_a, test_b = pairs.x_test[:, 0], pairs.x_test[:, 1]
with torch.no_grad():
    probs = {"keras": keras_model.predict([test_a, test_b], verbose=0).ravel(),
             "torch": torch.sigmoid(torch_model(torch.from_numpy(test_a), torch.from_numpy(test_b))).numpy().ravel()}
for name, p in probs.items():
    auc = roc_auc_score(pairs.y_test, p)
    print(f"{name}: test AUC {auc:.4f}, accuracy at 0.5 {((p > 0.5) == pairs.y_test).mean():.4f}")
    glue(f"similarity_{name}_auc", auc)
full = committed("similarity")  # xdl.teach.helpers: the committed twins' test AUC, from their manifests
print(f"committed (up to 5 epochs): keras {full['keras']:.4f}, torch {full['torch']:.4f}")
glue("similarity_keras_committed", full["keras"])
glue("similarity_torch_committed", full["torch"])
print("(5% of the labels are flipped on purpose: a perfect reader scores about 0.95)")
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, losses in curves.items():
    ax.plot(range(1, len(losses) + 1), losses, marker="o", label=f"{name} validation loss")
ax.set_xlabel("epoch")
ax.legend()
save_figure(fig, "12_similarity_training")

# %% [markdown]
# ## Asking the trained model
# Sentences written here, encoded with the vocabulary. Each input has its own length: the
# encoder's global max pooling gives 32 numbers whatever the length, so the two sentences need
# not be padded to each other, in either framework or in the ONNX exports (inputs `a` of shape
# `[batch, seq_a]` and `b` of shape `[batch, seq_b]`).

# %%
index = {w: i for i, w in enumerate(words)}


def encode(sentence):
    return np.array([[1] + [index[w] for w in sentence.split()]], dtype="int64")  # 1 starts a sentence


questions = [("the plot was not very good", "the plot seemed never great"),
             ("the plot was not very good", "the acting was not very good"),
             ("the plot was not very good", "the plot was very good"),
             ("the ending felt really dull", "the ending is so tedious")]
for first, second in questions:
    ea, eb = encode(first), encode(second)
    p_k = float(keras_model.predict([ea, eb], verbose=0)[0, 0])
    with torch.no_grad():
        p_t = float(torch.sigmoid(torch_model(torch.from_numpy(ea), torch.from_numpy(eb)))[0, 0])
    print(f"{first!r:32} vs {second!r:32} keras {p_k:.3f}  torch {p_t:.3f}")

# %% [markdown]
# ## Exporting: two inputs, two dynamic lengths
# The export names each length on its own (`seq_a`, `seq_b`). ONNX Runtime answers for sentences
# of different lengths as the native twin does.

# %%
from xdl import exporting, verify

proto = exporting.to_onnx(spec, "torch", torch_model)
session = verify.session(proto.SerializeToString(), "cpu")
print("ONNX inputs:", [(i.name, i.type, i.shape) for i in session.get_inputs()])
short, long = encode("the plot was not very good"), encode("w3 w7 the plot seemed never great w12 w0")
onnx_p = session.run(None, {"a": short, "b": long})[0]
with torch.no_grad():
    native = torch.sigmoid(torch_model(torch.from_numpy(short), torch.from_numpy(long))).numpy()
print(f"lengths {short.shape[1]} and {long.shape[1]}: ONNX Runtime {onnx_p[0, 0]:.6f}, PyTorch {native[0, 0]:.6f}")
swapped = session.run(None, {"a": long, "b": short})[0]
print(f"swapped: {swapped[0, 0]:.6f} (the head is symmetric)")

# %% [markdown]
# ## Exercises
# 1. Replace the head's features $|a - b|$ and $a \odot b$ with the concatenation $[a, b]$: is the model
#    still symmetric (swap the sentences), and does the AUC change?
# 2. Give the model two encoders (two separate `encoder` layers / modules): count the parameters and
#    compare the test AUC after the same training.
# 3. Write three sentence pairs of your own that the model gets wrong, and say which of the near-miss
#    kinds (subject, adjective's direction, negation) each one is.
