"""cnn: the articles' small convolutional network for 32x32 colour images."""

from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="cnn",
    task="classification",
    lesson=Lesson(
        tutorial="02_convolution",
        summary="Conv 32/64/64 + two MaxPools -> Dense 64 -> Dense(10, softmax) on 32x32x3 images",
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
        epochs=50,  # an upper bound: early stopping ends training when val_loss stalls
        validation_split=0.1,
        early_stopping_patience=3,
        # One epoch over 512 images is 4 steps, not enough to leave chance level on shapes.
        quick_train_samples=1024,
        quick_epochs=3,
    ),
    expectations=Expectations(
        # conv1 3*3*3*32+32 = 896; conv2 3*3*32*64+64 = 18,496; conv3 3*3*64*64+64 = 36,928;
        # dense1 (4*4*64)*64+64 = 65,600; dense2 64*10+10 = 650
        param_count=122_570,
        goal=0.80,
    ),
)
