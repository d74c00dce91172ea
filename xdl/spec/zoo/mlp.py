"""mlp: the articles' first network, a one-hidden-layer perceptron on 28x28 digit images."""

from xdl.spec import ModelSpec, TensorSpec, TrainConfig

SPEC = ModelSpec(
    name="mlp",
    task="classification",
    summary="Dense(512, relu) -> Dropout(0.5) -> Dense(10, softmax) on 28x28x1 digits",
    lesson="01_first_network",
    inputs=(TensorSpec("x", (None, 1, 28, 28), layout="NCHW", domain=(0.0, 1.0)),),
    outputs=(TensorSpec("probs", (None, 10), domain=(0.0, 1.0), kind="probabilities"),),
    num_classes=10,
    dataset="digits",
    datasets=("digits", "mnist"),
    train=TrainConfig(
        optimizer="rmsprop",
        lr=1e-3,
        batch_size=128,
        # The article's 10 epochs are over MNIST's 60,000 images (4,690 steps); the embedded
        # digits set has 1,437 training images, so 10 epochs would be only 120 steps. 30 epochs
        # (360 steps) is where test accuracy stops rising on digits.
        epochs=30,
    ),
    # 784 * 512 + 512 (hidden) + 512 * 10 + 10 (output)
    param_count=407_050,
    goal=0.95,
)
