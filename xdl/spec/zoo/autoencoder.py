"""autoencoder: a convolutional autoencoder on digits, exported whole and as encoder + decoder."""

from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec, Tolerance

IMAGE = TensorSpec("x", (None, 1, 28, 28), layout="NCHW", domain=(0.0, 1.0))
CODE = 16  # the bottleneck: each 784-pixel digit squeezed into 16 numbers
RECONSTRUCTION = TensorSpec("reconstruction", (None, 1, 28, 28), layout="NCHW", domain=(0.0, 1.0),
                            kind="reconstruction")
# The codes are unbounded reals; fresh inputs for the decoder are drawn from this range.
CODES = TensorSpec("code", (None, CODE), domain=(-3.0, 3.0), kind="features")

SPEC = ModelSpec(
    name="autoencoder",
    task="reconstruction",
    lesson=Lesson(
        tutorial="07_autoencoder",
        summary="Conv 16, 32 (stride 2) -> Dense(16) code -> Dense -> ConvTranspose 16, 1 (stride 2, sigmoid)",
    ),
    contract=Contract(
        inputs=(IMAGE,),
        outputs=(RECONSTRUCTION,),
        # The decoder alone is a generator: codes in, images out. Both halves are exported too.
        parts=(("encoder", Contract(inputs=(IMAGE,), outputs=(CODES,))),
               ("decoder", Contract(inputs=(CODES,), outputs=(RECONSTRUCTION,)))),
    ),
    recipe=Recipe(
        dataset="digits",
        datasets=("digits", "mnist"),
        optimizer="adam",
        lr=1e-3,
        batch_size=64,
        epochs=40,
        validation_split=0.1,
        early_stopping_patience=3,
        quick_train_samples=512,
        quick_epochs=1,
    ),
    expectations=Expectations(
        # encoder: conv1 9*16+16 = 160; conv2 9*16*32+32 = 4,640; code 1568*16+16 = 25,104
        # decoder: dense 16*1568+1568 = 26,656; deconv1 9*32*16+16 = 4,624; deconv2 9*16+1 = 145
        param_count=61_329,
        # Measured: the Keras export's reconstructions differ from TensorFlow's by up to 1.9e-5 (ORT's
        # ConvTranspose sums in another order than TensorFlow's conv2d_backprop_input, over 9 * 32
        # terms, then a sigmoid near 1), at the edge of the default 1e-5 + 1e-5 * |x|. A wrong
        # layer (an unported crop, a flipped kernel) is off by 1e-2 or more, far beyond 5e-5.
        tolerance_override=Tolerance(5e-5, 1e-5, "transposed convolutions: ORT's ConvTranspose vs TensorFlow's "
                                     "conv2d_backprop_input, measured up to 1.9e-5 on reconstructions"),
        goal=0.03,  # test mean squared error per pixel, at most
        margin=0.005,
    ),
)
