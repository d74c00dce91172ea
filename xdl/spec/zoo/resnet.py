"""resnet: a small residual network for 32x32 colour images, with batch normalisation."""

from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="resnet",
    task="classification",
    lesson=Lesson(
        tutorial="06_residual_networks",
        summary="stem 8 -> identity block 8 -> projection blocks 16, 32 (stride 2) -> GAP -> Dense(10, softmax)",
    ),
    contract=Contract(
        inputs=(TensorSpec("x", (None, 3, 32, 32), layout="NCHW", domain=(0.0, 1.0)),),
        outputs=(TensorSpec("probs", (None, 10), domain=(0.0, 1.0), kind="probabilities"),),
    ),
    recipe=Recipe(
        dataset="shapes",
        datasets=("shapes", "cifar10"),
        optimizer="adam",
        lr=1e-3,
        batch_size=128,
        epochs=12,
        validation_split=0.1,
        early_stopping_patience=3,
        # BatchNorm's moving statistics need ~30 steps to leave their start (mean 0, variance 1).
        quick_train_samples=1024,
        quick_epochs=4,
    ),
    expectations=Expectations(
        # Trainable only: BatchNorm's moving mean and variance are state, not parameters, in both.
        param_count=19_954,
        goal=0.80,
        margin=0.04,
    ),
)
