"""recommender: matrix factorisation, user and item embeddings whose dot product (plus biases)
predicts a rating."""

from xdl.spec.datasets import RATINGS_ITEMS as ITEMS
from xdl.spec.datasets import RATINGS_USERS as USERS
from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="recommender",
    task="regression",
    lesson=Lesson(
        tutorial="08_recommender",
        summary="user, item ids -> Embedding(943, 16) . Embedding(1682, 16) + biases + mean -> rating",
    ),
    contract=Contract(
        # Two named inputs, one id per sample each.
        inputs=(TensorSpec("user", (None,), dtype="int64", domain=(0, USERS)),
                TensorSpec("item", (None,), dtype="int64", domain=(0, ITEMS))),
        outputs=(TensorSpec("rating", (None, 1), domain=(1.0, 5.0), kind="regression"),),
    ),
    recipe=Recipe(
        dataset="ratings",
        datasets=("ratings", "movielens"),
        optimizer="adam",
        lr=5e-3,
        batch_size=256,
        epochs=30,
        validation_split=0.1,
        early_stopping_patience=3,  # embeddings of 1,682 items overfit 21,600 ratings quickly
        quick_train_samples=2048,
        quick_epochs=1,
    ),
    expectations=Expectations(
        # user embedding 943*16 = 15,088; item 1682*16 = 26,912; user bias 943; item bias 1,682;
        # global mean 1
        param_count=44_626,
        goal=1.0,  # test RMSE in stars, at most
        margin=0.05,
    ),
)
