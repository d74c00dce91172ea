"""tagger: named-entity recognition as per-token labelling with a bidirectional LSTM."""

from xdl.spec.datasets import ENTITIES_NUM_WORDS as NUM_WORDS
from xdl.spec.datasets import ENTITIES_TAGS as TAGS
from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="tagger",
    task="tagging",
    lesson=Lesson(
        tutorial="05_sequence_labelling",
        summary="Embedding(5000, 32) -> Bidirectional LSTM(32 + 32) -> Dense(10, softmax) at every token",
    ),
    contract=Contract(
        inputs=(TensorSpec("tokens", (None, None), dtype="int64", domain=(0, NUM_WORDS)),),
        # One distribution over the 10 tags per token: (batch, length, 10).
        outputs=(TensorSpec("tag_probs", (None, None, len(TAGS)), domain=(0.0, 1.0), kind="probabilities"),),
    ),
    recipe=Recipe(
        dataset="entities",
        datasets=("entities", "conll"),
        optimizer="adam",
        lr=3e-3,
        batch_size=64,
        epochs=8,
        validation_split=0.1,  # the best epoch by val_loss is kept (ModelCheckpoint)
        quick_train_samples=512,
        quick_epochs=1,
    ),
    expectations=Expectations(
        # embedding 5000*32 = 160,000; each direction's LSTM 4*(32*32 + 32*32 + 32) = 8,320;
        # dense 64*10+10 = 650. (PyTorch's second LSTM biases are frozen at zero; see torch.py.)
        param_count=177_290,
        goal=0.95,  # token accuracy on real (non-padding) tokens
        seq_lengths=(5, 32, 50),  # live parity checks shorter and longer than the training length
    ),
)
