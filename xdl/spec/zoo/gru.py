"""gru: a GRU sequence classifier on MNIST-1D."""

from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="gru",
    task="classification",
    lesson=Lesson(
        tutorial="04_recurrent",
        summary="GRU(64) over 1-D sequences -> Dense(10, softmax); any sequence length",
    ),
    contract=Contract(
        # (batch, time, 1): one value per step. The length is dynamic, as a GRU allows.
        inputs=(TensorSpec("x", (None, None, 1), domain=(-4.0, 4.0)),),
        outputs=(TensorSpec("probs", (None, 10), domain=(0.0, 1.0), kind="probabilities"),),
    ),
    recipe=Recipe(
        dataset="mnist1d",
        datasets=("mnist1d",),
        optimizer="adam",
        lr=3e-3,
        batch_size=128,
        epochs=40,
        validation_split=0.1,
        early_stopping_patience=4,
        quick_train_samples=512,
        quick_epochs=1,
    ),
    expectations=Expectations(
        # Keras GRU (reset_after=True): kernel 1*192 + recurrent 64*192 + bias 2*192 = 12,864;
        # PyTorch's weight_ih, weight_hh, bias_ih, bias_hh hold the same numbers. dense 64*10+10.
        param_count=13_514,
        goal=0.60,
        margin=0.05,
        seq_lengths=(20, 40, 60),
    ),
)
