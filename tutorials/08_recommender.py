# %% [markdown]
# # 8. Recommendation: embeddings of users and items
#
# **Goals**
# - build a two-input model (user id, item id) from embeddings and biases in both frameworks;
# - train it on ratings and compare it with always predicting the mean;
# - recommend with ONNX Runtime through two named inputs.
#
# **Prerequisites**: lesson 3 (embeddings) and lesson 1 (squared error, Adam); the dot product.
#
# A recommender predicts how much a user will like an item from past ratings. Matrix
# factorisation gives every user and every item a vector of 16 learned **taste** numbers; the
# predicted rating is their dot product plus a user bias (a harsh or generous rater), an item
# bias (a loved or panned film) and the global mean. The model takes **two inputs**, user id and
# item id, and the ONNX exports do too.

# %%
import keras
import numpy as np
import torch

from xdl import backends, data
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's code
# (show_code), a number recorded for the prose (glue), the committed twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("recommender")
ratings = data.load("ratings", seed=0, validation_split=0.1)
print("first ratings (user, item) -> stars:", [(tuple(p), float(r)) for p, r in zip(ratings.x_train[:4], ratings.y_train[:4])])
mean_rmse = float(np.sqrt(np.mean((ratings.y_test - ratings.y_train.mean()) ** 2)))
print(f"always predicting the mean rating gives RMSE {mean_rmse:.4f}")
glue("rec_mean_rmse", mean_rmse)

# %% keras: a functional model with two inputs
from xdl.models.recommender import keras as rec_keras

show_code(rec_keras.build)

# %% torch: forward(user, item)
from xdl.models.recommender import torch as rec_torch

show_code(rec_torch.Recommender)

# %% [markdown]
# ## Training: squared error on the stars
# Adam at the recipe's 5e-3, batch 256, 15 epochs. Keras feeds the two inputs as a list, PyTorch
# as two arguments; both watch the validation error.

# %%
def columns(pairs):
    """The (user, item) id pairs as the two inputs both twins take."""
    return pairs[:, 0].astype("int64"), pairs[:, 1].astype("int64")


users, items = columns(ratings.x_train)
val_users, val_items = columns(ratings.x_val)
stars, val_stars = ratings.y_train.astype("float32"), ratings.y_val.astype("float32")

# %% keras: fit([users, items], stars)
keras.utils.set_random_seed(0)
keras_model = rec_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-3, epsilon=1e-7), loss="mean_squared_error")
fit = keras_model.fit([users, items], stars, batch_size=256, epochs=lesson_size(15), verbose=0,
                      validation_data=([val_users, val_items], val_stars))
curves = {"keras": fit.history}

# %% torch: model(user, item), the loop written out
torch.manual_seed(0)
torch_model = rec_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=5e-3, eps=1e-7)
loss_fn = torch.nn.MSELoss()
u, i, r = torch.from_numpy(users), torch.from_numpy(items), torch.from_numpy(stars).unsqueeze(1)
curves["torch"] = {"loss": [], "val_loss": []}
for epoch in range(lesson_size(15)):
    torch_model.train()
    total = 0.0
    for idx in torch.randperm(len(r)).split(256):
        loss = loss_fn(torch_model(u[idx], i[idx]), r[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    torch_model.eval()
    with torch.no_grad():
        val = torch_model(torch.from_numpy(val_users), torch.from_numpy(val_items))
        curves["torch"]["val_loss"].append(loss_fn(val, torch.from_numpy(val_stars).unsqueeze(1)).item())
    curves["torch"]["loss"].append(total / len(r))

# %%
nets = {"keras": keras_model, "torch": torch_model}
test_users, test_items = columns(ratings.x_test)
with torch.no_grad():
    predicted = {"keras": keras_model.predict([test_users, test_items], verbose=0).ravel(),
                 "torch": torch_model(torch.from_numpy(test_users), torch.from_numpy(test_items)).numpy().ravel()}
for name, p in predicted.items():
    rmse = np.sqrt(np.mean((p - ratings.y_test) ** 2))
    print(f"{name}: test RMSE {rmse:.4f} stars")
    glue(f"rec_{name}_rmse", rmse)
full = committed("recommender")  # xdl.teach.helpers: the committed twins' test RMSE, from their manifests
print(f"committed (up to 30 epochs): keras {full['keras']:.4f}, torch {full['torch']:.4f}")
glue("rec_keras_committed", full["keras"])
glue("rec_torch_committed", full["torch"])
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, h in curves.items():
    ax.plot(np.sqrt(h["loss"]), label=f"{name} training RMSE")
    ax.plot(np.sqrt(h["val_loss"]), linestyle="--", label=f"{name} validation RMSE")
ax.set_xlabel("epoch")
ax.legend()
save_figure(fig, "08_recommender_training")

# %% [markdown]
# Both twins predict ratings to within {glue:text}`rec_keras_rmse:.2f` (Keras) and
# {glue:text}`rec_torch_rmse:.2f` (PyTorch) stars, against {glue:text}`rec_mean_rmse:.2f` for always
# predicting the mean rating. The committed twins, trained for up to 30 epochs with early stopping, reach
# {glue:text}`rec_keras_committed:.2f` and {glue:text}`rec_torch_committed:.2f`.
#
# ## Recommending
# For one user, score every item and list the best ones not yet rated. The same scoring runs in
# ONNX Runtime with two named inputs, as a deployment would.

# %%
from xdl import exporting, verify

user = 7
seen = set(ratings.x_train[ratings.x_train[:, 0] == user, 1])
everything = np.stack([np.full(1682, user), np.arange(1682)], axis=1)
tfw = backends.load("torch")
scores = tfw.predict(nets["torch"], spec, everything).ravel()
best = [i for i in np.argsort(-scores) if i not in seen][:5]
print(f"user {user} rated {len(seen)} items; top picks:", [(int(i), round(float(scores[i]), 2)) for i in best])
proto = exporting.to_onnx(spec, "torch", nets["torch"])
session = verify.session(proto.SerializeToString(), "cpu")
onnx_scores = session.run(None, spec.feeds(everything))[0].ravel()
print("ONNX inputs:", [(i.name, i.type, i.shape) for i in session.get_inputs()])
print(f"ONNX Runtime vs PyTorch, all 1,682 items: max abs difference {np.abs(onnx_scores - scores).max():.1e}")

# %% [markdown]
# ## Exercises
# 1. Set the taste vectors to 4 and to 64 numbers: which size overfits, by the training and
#    validation curves?
# 2. Add L2 regularisation to the embeddings (`embeddings_regularizer` in Keras, `weight_decay` on
#    the embeddings' parameter group in PyTorch, remembering lesson 2's factor of 2) and compare the RMSE.
# 3. Find the five items whose embeddings are closest (cosine similarity) to item 0's: do users who
#    rated one rate the others alike?
