"""transfer: transfer learning and fine-tuning, as the articles describe it.

1. pretrain: the whole network learns shapes' first five classes (the "pretrained model").
2. head: the backbone is frozen and a new head, freshly initialised, learns the other five.
3. finetune: the top convolution block thaws and trains with the head at a tenth of the rate,
   adapting the highest-level features to the new classes without wrecking them.

Freezing is where the frameworks differ: a frozen Keras BatchNormalization (trainable=False)
also runs in inference mode, normalising with its stored statistics and never updating them.
A PyTorch BatchNorm whose parameters have requires_grad=False still normalises with the
batch's statistics and updates its running ones in train() mode, unless it is put in eval()
mode; xdl's PyTorch loop does that for every BatchNorm with no trainable parameter.
"""

from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Phase, Recipe, TensorSpec

BACKBONE_TOP = ("conv3", "bn3")  # the block that thaws for fine-tuning
HEAD = ("head",)

SPEC = ModelSpec(
    name="transfer",
    task="classification",
    lesson=Lesson(
        tutorial="09_transfer_learning",
        summary="Conv-BN 32, 64 (pooled), 64 -> GAP -> Dense(5, softmax); pretrained, head-trained, fine-tuned",
    ),
    contract=Contract(
        inputs=(TensorSpec("x", (None, 3, 32, 32), layout="NCHW", domain=(0.0, 1.0)),),
        outputs=(TensorSpec("probs", (None, 5), domain=(0.0, 1.0), kind="probabilities"),),
    ),
    recipe=Recipe(
        dataset="shapes-b",  # the target task: what the exported model classifies
        datasets=("shapes-b",),
        optimizer="adam",
        lr=1e-3,  # each phase sets its own; see phases
        batch_size=128,
        epochs=0,  # each phase sets its own
        validation_split=0.1,
        early_stopping_patience=3,
        # per phase; fewer steps leave the new head where it started (loss ln 5)
        quick_train_samples=2048,
        quick_epochs=3,
        phases=(
            Phase("pretrain", "shapes-a", None, lr=1e-3, epochs=12),
            Phase("head", "shapes-b", HEAD, lr=1e-3, epochs=8, reset=HEAD),
            Phase("finetune", "shapes-b", BACKBONE_TOP + HEAD, lr=1e-4, epochs=6),
        ),
    ),
    expectations=Expectations(
        # conv1 3*3*3*32 = 864, bn1 64; conv2 3*3*32*64 = 18,432, bn2 128; conv3 3*3*64*64 = 36,864,
        # bn3 128; head 64*5+5 = 325
        param_count=56_805,
        goal=0.80,
        margin=0.04,
    ),
)
