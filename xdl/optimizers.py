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

One difference cannot be mapped away: Keras's Adam adds epsilon to sqrt(v) *before* the bias
correction of v, PyTorch's after it. The two are equal when Keras's epsilon is PyTorch's times
sqrt(1 - beta_2**t), a factor that changes every step; with epsilon = 1e-7 the effect on an
update is below float32 resolution once sqrt(v) exceeds ~1e-4, so training curves still match.
"""

RMSPROP = {"rho": 0.9, "epsilon": 1e-7, "momentum": 0.0}
ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
KNOWN = {"rmsprop": RMSPROP, "adam": ADAM}
