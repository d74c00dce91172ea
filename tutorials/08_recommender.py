# %% [markdown]
# # 8. Recommendation: embeddings of users and items
#
# A recommender predicts how much a user will like an item from past ratings. Matrix
# factorisation gives every user and every item a vector of 16 learned **taste** numbers; the
# predicted rating is their dot product plus a user bias (a harsh or generous rater), an item
# bias (a loved or panned film) and the global mean. The model takes **two inputs**, user id and
# item id, and the ONNX exports do too.

# %%
import numpy as np

from xdl import backends, data
from xdl.spec import registry, tasks
from xdl.teach.helpers import pyplot, save_figure, source, train

plt = pyplot()
spec = registry.get("recommender")
ratings = data.load("ratings", seed=0, validation_split=0.1)
print("first ratings (user, item) -> stars:", [(tuple(p), float(r)) for p, r in zip(ratings.x_train[:4], ratings.y_train[:4])])
print("always predicting the mean rating gives RMSE",
      round(float(np.sqrt(np.mean((ratings.y_test - ratings.y_train.mean()) ** 2))), 4))

# %% keras: a functional model with two inputs
from xdl.models.recommender import keras as rec_keras

print(source(rec_keras.build))

# %% torch: forward(user, item)
from xdl.models.recommender import torch as rec_torch

print(source(rec_torch.Recommender))

# %%
nets, curves = {}, {}
for name in ("keras", "torch"):
    nets[name], curves[name] = train(name, spec, ratings, epochs=15)
    predicted = backends.load(name).predict(nets[name], spec, ratings.x_test)
    rmse = tasks.score("regression", predicted, ratings.x_test, ratings.y_test)
    print(f"{name}: test RMSE {rmse:.4f} stars")
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, h in curves.items():
    ax.plot(np.sqrt(h["loss"]), label=f"{name} training RMSE")
    ax.plot(np.sqrt(h["val_loss"]), linestyle="--", label=f"{name} validation RMSE")
ax.set_xlabel("epoch")
ax.legend()
save_figure(fig, "08_recommender_training")

# %% [markdown]
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
