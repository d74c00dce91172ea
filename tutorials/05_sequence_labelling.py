# %% [markdown]
# # 5. Sequence labelling: named entities with a bidirectional LSTM
#
# **Goals**
# - give every token a label with a bidirectional LSTM, in both frameworks;
# - compute the per-token loss: Keras's (batch, time, classes) against PyTorch's classes on axis 1;
# - see context resolve an ambiguous word, and where the tagger errs.
#
# **Prerequisites**: lessons 3 (vocabularies, embeddings) and 4 (LSTMs).
#
# Named-entity recognition gives every word a tag: a person (PER), a place (LOC), an
# organisation (ORG), something else named (MISC), or nothing (O); B- starts a name, I-
# continues it (CoNLL-2003's scheme). The output is one class distribution **per token**. Some
# words are ambiguous, "Jordan said" versus "flew to Jordan": only the words around them decide,
# on both sides, which is why the tagger reads the sentence in both directions.

# %%
import keras
import torch

from xdl import backends, data
from xdl.data import entities
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's code (show_code)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("tagger")
corpus = data.load("entities", seed=0, validation_split=0.1)
vocab = ["<pad>", "<unknown>", *entities.vocabulary()]
x0, y0 = corpus.x_train[0], corpus.y_train[0]
print(" ".join(f"{vocab[w]}/{entities.TAGS[t]}" for w, t in zip(x0, y0) if w))

# %% keras: the model
from xdl.models.tagger import keras as tagger_keras

show_code(tagger_keras.build)

# %% torch: the model
from xdl.models.tagger import torch as tagger_torch

show_code(tagger_torch.Tagger)

# %% [markdown]
# ## The per-token loss
# Keras's `sparse_categorical_crossentropy` takes (batch, time, classes) outputs and (batch, time)
# labels as they are. PyTorch's `CrossEntropyLoss` wants the classes on axis 1, so the loop
# transposes to (batch, classes, time) first. Adam at the recipe's 3e-3, batch 64, 8 epochs.

# %% keras: compile() and fit()
keras.utils.set_random_seed(0)
keras_model = tagger_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3, epsilon=1e-7),
                    loss="sparse_categorical_crossentropy")
keras_model.fit(corpus.x_train, corpus.y_train, batch_size=64, epochs=lesson_size(8), verbose=0)
keras_tags = keras_model.predict(corpus.x_test, verbose=0).argmax(-1)

# %% torch: the loop, classes moved to axis 1
torch.manual_seed(0)
torch_model = tagger_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=3e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
x, y = torch.from_numpy(corpus.x_train), torch.from_numpy(corpus.y_train)
for epoch in range(lesson_size(8)):
    torch_model.train()
    for idx in torch.randperm(len(x)).split(64):
        out = torch_model(x[idx])  # (batch, time, tags)
        loss = loss_fn(out.transpose(1, 2), y[idx])  # (batch, tags, time) against (batch, time)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
torch_model.eval()
with torch.no_grad():
    torch_tags = torch_model(torch.from_numpy(corpus.x_test)).argmax(-1).numpy()

# %%
real = corpus.x_test > 0  # padding is not a word: it is not scored
nets = {"keras": keras_model, "torch": torch_model}
for name, tags in (("keras", keras_tags), ("torch", torch_tags)):
    print(f"{name}: token accuracy {(tags == corpus.y_test)[real].mean():.4f} (padding excluded)")

# %% [markdown]
# ## Context decides
# The same word in two sentences neither twin has seen. "said" after it makes "Jordan" a person,
# "flew to" before it a place; here is what each twin reads from the neighbours.

# %%
index = {w: i for i, w in enumerate(vocab)}
sentences = ["Jordan said on Monday that Reuters would open an office in Oslo .",
             "Anna Keller flew to Jordan to meet Tom Berg ."]
x, _ = entities.encode([s.split() for s in sentences], [["O"] * len(s.split()) for s in sentences], index)
for name, net in nets.items():
    tags = backends.load(name).predict(net, spec, x).argmax(-1)
    for s, row in zip(sentences, tags):
        print(f"{name}: " + " ".join(f"{w}/{entities.TAGS[t]}" for w, t in zip(s.split(), row)))

# %% [markdown]
# ## Where the errors are
# Per-tag accuracy on the test set (PyTorch twin). Unknown words (10% of the generated text, as
# rare names are in real text) can only be tagged from context.

# %%
pred = torch_tags
per_tag = [(pred[real & (corpus.y_test == t)] == t).mean() for t in range(1, len(entities.TAGS))]
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(entities.TAGS[1:], per_tag)
ax.set_ylim(0, 1.05)
ax.set_title("tagger (PyTorch): accuracy per tag")
save_figure(fig, "05_per_tag_accuracy")
unknown = real & (corpus.x_test == entities.OOV)
print(f"accuracy on unknown words {(pred[unknown] == corpus.y_test[unknown]).mean():.3f}, "
      f"on known words {(pred[real & ~unknown] == corpus.y_test[real & ~unknown]).mean():.3f}")

# %% [markdown]
# ## Exercises
# 1. Drop `Bidirectional` (Keras) and `bidirectional=True` (PyTorch, with the head's input halved):
#    which tags suffer most, and does "Jordan said" still come out a person?
# 2. Exclude padding from the loss as well as from the score: Keras's `sample_weight=(x > 0)` in `fit`,
#    PyTorch's `CrossEntropyLoss(ignore_index=...)` with padding labelled -100. Does the accuracy change?
# 3. Count the test errors by (true tag, predicted tag) in a confusion matrix: are B- tags mistaken
#    for I- tags of the same kind, or for other kinds?
