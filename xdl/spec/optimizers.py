"""The optimizer mapping between Keras and PyTorch, written down once.

Both frameworks implement the same algorithms under different names and defaults. xdl never
relies on a default: each framework module builds its optimizer from the values below.

| setting           | Keras 3 name / default     | PyTorch name / default      | xdl uses |
|-------------------|----------------------------|-----------------------------|----------|
| RMSprop decay     | rho = 0.9                  | alpha = 0.99                | 0.9      |
| RMSprop epsilon   | epsilon = 1e-7             | eps = 1e-8                  | 1e-7     |
| RMSprop momentum  | momentum = 0.0             | momentum = 0                | 0.0      |
| Adam betas        | beta_1 = 0.9, beta_2=0.999 | betas = (0.9, 0.999)        | same     |
| Adam epsilon      | epsilon = 1e-7             | eps = 1e-8                  | 1e-7     |

Two differences cannot be mapped away, because epsilon sits in another place (read in the
sources of Keras 3.15 and PyTorch 2.13):

- RMSprop: Keras divides by sqrt(v + epsilon), PyTorch by sqrt(v) + epsilon. While v is far
  above epsilon (1e-7) the two agree; for a weight whose squared gradients are tiny (v ~ 1e-8,
  common in the first steps) Keras's step is several times smaller.
- Adam: Keras adds epsilon to sqrt(v) *before* the bias correction of v, PyTorch after it. They
  are equal when Keras's epsilon is PyTorch's times sqrt(1 - beta_2**t), a factor that changes
  every step; the effect fades once sqrt(v) is well above 1e-7.

`xdl parity steps MODEL --steps K --optimizer spec` measures how far these take the two
frameworks apart; with plain SGD (the default there) nothing separates them. Measured on
mlp/cnn, 20 steps: SGD agrees to 1e-7/6e-6 relative in the loss; RMSprop differs by 6e-2 and
agrees to 1e-7 once epsilon is 1e-30 in both (so epsilon placement is the whole story); Adam
differs by 3e-3, and still by 8e-4 with epsilon 1e-30, because its early updates are close to
lr * sign(gradient): a near-zero gradient that differs in its last bits between TensorFlow and
PyTorch moves a weight by a full step.
"""

RMSPROP = {"rho": 0.9, "epsilon": 1e-7, "momentum": 0.0}
ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
KNOWN = {"rmsprop": RMSPROP, "adam": ADAM}

# What makes the same optimizer step differ between the frameworks, named in training reports.
DIFFERENCES = {
    "sgd": "none: plain SGD is the same update in both frameworks",
    "rmsprop": "RMSprop epsilon placement: Keras sqrt(v + eps), PyTorch sqrt(v) + eps",
    "adam": "Adam epsilon placement (Keras adds eps before the bias correction of v, PyTorch "
    "after); and Adam's first steps are close to lr * sign(gradient), so gradients near zero that "
    "differ only by float rounding between the frameworks move weights by a full step",
}
