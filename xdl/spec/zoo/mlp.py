"""mlp: the articles' first network, a one-hidden-layer perceptron on 28x28 digit images."""

from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

SPEC = ModelSpec(
    name="mlp",
    task="classification",
    lesson=Lesson(
        tutorial="01_first_network",
        summary="Dense(512, relu) -> Dropout(0.5) -> Dense(10, softmax) on 28x28x1 digits",
    ),
    contract=Contract(
        inputs=(TensorSpec("x", (None, 1, 28, 28), layout="NCHW", domain=(0.0, 1.0)),),
        outputs=(TensorSpec("probs", (None, 10), domain=(0.0, 1.0), kind="probabilities"),),
    ),
    recipe=Recipe(
        dataset="digits",
        datasets=("digits", "mnist"),
        optimizer="rmsprop",
        lr=1e-3,
        batch_size=128,
        # The article's 10 epochs are over MNIST's 60,000 images (4,690 steps); the embedded
        # digits set has 1,437 training images, so 10 epochs would be only 120 steps. 30 epochs
        # (360 steps) is where test accuracy stops rising on digits.
        epochs=30,
    ),
    expectations=Expectations(
        # 784 * 512 + 512 (hidden) + 512 * 10 + 10 (output)
        param_count=407_050,
        goal=0.95,
    ),
)
