"""gan: a DCGAN-style generator and discriminator on the 28x28 digits, exported whole (noise ->
how real the discriminator finds the generated image) and as its two parts."""

from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec

NOISE = 32  # numbers in a noise vector: the generator's only input
# Noise is standard normal in training; fresh test inputs are drawn uniformly from +-2.
NOISE_IN = TensorSpec("noise", (None, NOISE), domain=(-2.0, 2.0))
IMAGE = TensorSpec("image", (None, 1, 28, 28), layout="NCHW", domain=(0.0, 1.0), kind="reconstruction")
IMAGE_IN = TensorSpec("image", (None, 1, 28, 28), layout="NCHW", domain=(0.0, 1.0))
REAL = TensorSpec("prob_real", (None, 1), domain=(0.0, 1.0), kind="probabilities")

SPEC = ModelSpec(
    name="gan",
    task="generation",
    lesson=Lesson(
        tutorial="14_generative_adversarial_networks",
        summary="generator: noise(32) -> Dense -> ConvTranspose 16, 1 (sigmoid); discriminator: Conv 16, 32 (stride 2, "
                "LeakyReLU 0.2) -> Dense(1, sigmoid)",
    ),
    contract=Contract(
        # The whole network is the adversarial game in one graph: noise -> the generator's image -> the
        # discriminator's P(real). Its two halves are exported on their own contracts (parts, below).
        inputs=(NOISE_IN,),
        outputs=(REAL,),
        parts=(("generator", Contract(inputs=(NOISE_IN,), outputs=(IMAGE,))),
               ("discriminator", Contract(inputs=(IMAGE_IN,), outputs=(REAL,)))),
    ),
    recipe=Recipe(
        dataset="digits",
        datasets=("digits", "mnist"),
        optimizer="adam",
        # DCGAN's Adam (beta_1 0.5) in both networks of both twins, at twice its rate 2e-4: with 2e-4
        # the Frechet distance after 100 epochs was 10 to 15 and the Keras generator drew one blob.
        lr=4e-4,
        beta_1=0.5,
        batch_size=64,
        # 1,437 training digits: 22 full batches an epoch, 100 epochs = 2,200 steps of each network
        # (about 40 s a twin here). DCGAN runs 25 epochs over MNIST's 60,000 (23,000 steps); this
        # cut draws blurry but mostly recognisable digits (Frechet distance about 5; 150 epochs
        # at 2e-4 reached 6.3, 60 epochs 10 to 15).
        epochs=100,
        quick_train_samples=512,
        quick_epochs=6,  # 48 steps: enough to move the Frechet distance (CI's check that it learns)
    ),
    expectations=Expectations(
        # generator: dense 32*1568+1568 = 51,744; deconv1 9*32*16+16 = 4,624; deconv2 9*16+1 = 145
        # discriminator: conv1 9*16+16 = 160; conv2 9*16*32+32 = 4,640; dense 1568+1 = 1,569
        param_count=62_882,
        # The test metric: the Frechet distance of 360 generated digits (the test split's noise) to the
        # 360 real test digits, on 20 principal components of the real ones (xdl.spec.tasks). For scale:
        # real training digits score 0.4, the mean digit repeated 19.5, uniform noise 25.9.
        goal=8.0,
        margin=2.0,
    ),
)

