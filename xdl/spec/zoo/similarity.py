"""similarity: a siamese text encoder (one set of weights reading both sentences) and a head
giving the probability that two sentences mean the same."""

from xdl.spec.datasets import PARAPHRASES_MAX_LENGTH as MAX_LENGTH
from xdl.spec.datasets import PARAPHRASES_NUM_WORDS as NUM_WORDS
from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="similarity",
    task="binary",
    lesson=Lesson(
        tutorial="12_text_similarity",
        summary="a, b -> shared Embedding(259, 32) -> Conv1D 64/3 -> GlobalMaxPool -> Dense 32; [|a-b|, a*b] -> Dense 32 -> Dense(1, sigmoid)",
    ),
    contract=Contract(
        # Two sentences of token ids (sentiment.py's: 0 pads, 1 starts). Each has its own dynamic
        # length: a deployer may compare a 5-word sentence with a 20-word one.
        inputs=(TensorSpec("a", (None, None), dtype="int64", domain=(0, NUM_WORDS), seq_name="seq_a"),
                TensorSpec("b", (None, None), dtype="int64", domain=(0, NUM_WORDS), seq_name="seq_b")),
        outputs=(TensorSpec("prob", (None, 1), domain=(0.0, 1.0), kind="probabilities"),),
    ),
    recipe=Recipe(
        dataset="paraphrases",
        datasets=("paraphrases",),
        optimizer="adam",
        lr=2e-3,
        batch_size=64,
        # 20,000 pairs, of which 18,000 train: 282 steps an epoch. The validation AUC levels off
        # by the third epoch; 5 are kept so that a late start still ends.
        epochs=5,
        validation_split=0.1,
        early_stopping_patience=3,
        quick_train_samples=2048,
        quick_epochs=2,
    ),
    expectations=Expectations(
        # embedding 259*32 = 8,288 (counted once: both sentences use it); conv 3*32*64+64 = 6,208;
        # project 64*32+32 = 2,080; hidden 64*32+32 = 2,080; dense 32+1 = 33
        param_count=18_689,
        goal=0.85,  # test AUC (5% of the labels are flipped: a perfect model scores about 0.95)
        margin=0.03,
        seq_lengths=(8, MAX_LENGTH, 40),
    ),
)
