"""textcnn: the articles' text CNN, a sentiment classifier over word embeddings."""

from xdl.data.sentiment import MAX_LENGTH, NUM_WORDS
from xdl.spec import ModelSpec, TensorSpec, TrainConfig

SPEC = ModelSpec(
    name="textcnn",
    task="binary",
    summary="Embedding(10000, 64) -> Conv1D 32/7 -> MaxPool1D 4 -> Conv1D 32/7 -> GAP -> Dense(1, sigmoid)",
    # Token ids, as keras.datasets.imdb makes them: 0 pads, 1 starts, 2 is unknown.
    inputs=(TensorSpec("tokens", (None, MAX_LENGTH), dtype="int64", domain=(0, NUM_WORDS)),),
    outputs=(TensorSpec("prob", (None, 1), domain=(0.0, 1.0), kind="probabilities"),),
    num_classes=1,
    dataset="sentiment",
    datasets=("sentiment", "imdb"),
    train=TrainConfig(
        optimizer="adam",
        lr=1e-3,
        batch_size=128,
        epochs=20,  # the article's; early stopping ends it sooner when val_loss stalls
        validation_split=0.1,
        early_stopping_patience=3,
        quick_train_samples=512,
        quick_epochs=1,
    ),
    # embedding 10000*64 = 640,000; conv1 7*64*32+32 = 14,368; conv2 7*32*32+32 = 7,200;
    # dense 32+1 = 33
    param_count=661_601,
    goal=0.90,  # test AUC
    margin=0.03,
)
