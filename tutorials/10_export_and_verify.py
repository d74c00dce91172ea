# %% [markdown]
# # 10. Saving, exporting to ONNX and verifying for deployment
#
# A trained model is saved twice in xdl: as the framework's own weights (Keras `.weights.h5`,
# PyTorch `.safetensors`: tensors only, loading them runs no code) and as an ONNX graph that any
# runtime can execute. Deployment then rests on one question: does the exported graph compute
# what the framework computed? This tutorial answers it for the committed artifacts, on CPU and,
# where a GPU and onnxruntime-gpu are present, on CUDA.
#
# **Goals**
# - save and restore a model's weights in Keras (`.weights.h5`) and PyTorch (safetensors), and
#   check that the restored model computes what was stored
# - place a model and its inputs on a GPU in both frameworks, and know what happens without one
# - verify ONNX exports against the frameworks with `xdl verify`, and read its tolerances
#
# **Prerequisites**: lesson 2, `02_convolution` (the `cnn` model used here, checkpoints); any
# lesson that ends with an ONNX export helps.

# %%
from pathlib import Path

import numpy as np

from xdl import artifacts, verify
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), where the
# repository's exported_models/ is (exported_models), a number recorded for the prose (glue)
from xdl.teach.helpers import exported_models, glue, pyplot, save_figure

plt = pyplot()
root = exported_models()
art = artifacts.load(root / "cnn" / "torch")  # sizes and sha256 checked before anything is parsed
print("files:", sorted(art.manifest.files))
print("contract:", art.manifest.contract.inputs[0].to_dict(), "->", art.manifest.contract.outputs[0].name)
# the manifest records its tolerance; verify judges by the policy's, which it matches (xdl/verify/policy.py)
print("tolerance on CPU:", verify.policy.for_manifest(art.manifest, "cpu")["probs"])

# %% [markdown]
# ## Saving and restoring
# Restore the PyTorch weights into a fresh twin and check it reproduces the stored outputs.

# %% keras: save_weights() and load_weights()
import tempfile

from xdl.models.cnn import keras as cnn_keras

spec = registry.get("cnn")
keras_art = artifacts.load(root / "cnn" / "keras")
keras_model = cnn_keras.build(spec)
keras_model.load_weights(root / "cnn" / "keras" / "model.weights.h5")
copy = Path(tempfile.mkdtemp()) / "copy.weights.h5"  # Keras insists on the .weights.h5 suffix
keras_model.save_weights(copy)
keras_model.load_weights(copy)
x = keras_art.inputs["x"].transpose(0, 2, 3, 1)  # stored as the ONNX contract has it (NCHW); Keras wants NHWC
print("Keras restored vs stored outputs:", np.abs(keras_model.predict(x, verbose=0) - keras_art.outputs["probs"]).max())

# %% torch: state_dict() through safetensors (tensors only: loading runs no code, unlike a pickle)
import torch
from safetensors.torch import load_file, save_file

from xdl.models.cnn import torch as cnn_torch

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

torch_model = cnn_torch.build(spec)
torch_model.load_state_dict(load_file(root / "cnn" / "torch" / "model.safetensors"))
copy = Path(tempfile.mkdtemp()) / "copy.safetensors"
save_file(torch_model.state_dict(), copy)
torch_model.load_state_dict(load_file(copy))
torch_model.eval()
with torch.no_grad():  # the softmax Keras keeps in its model, added at inference
    probs = torch.softmax(torch_model(torch.from_numpy(art.inputs["x"].copy())), dim=1).numpy()
print("PyTorch restored vs stored outputs:", np.abs(probs - art.outputs["probs"]).max())

# %% [markdown]
# ## Verifying every committed artifact
# `xdl verify exported_models` does this from the command line with an exit code for CI.

# %%
report = verify.verify_paths([root], providers=("cpu", "cuda"), batch_sizes=(1, 64))
for status in ("pass", "fail", "skipped", "error"):
    print(f"{status}: {report.count(status)}")
skipped = {c.detail for c in report.checks if c.status == "skipped"}
print("CUDA:", next(iter(skipped)) if skipped else "checked on the GPU")
print("exit code:", report.exit_code)

# %% [markdown]
# ## CPU vs GPU execution
# The same graph runs on either. On a GPU, ONNX Runtime computes float32 matrix products in TF32
# by default (10 mantissa bits): xdl checks "cuda" with TF32 off against the float32 tolerance and
# reports "cuda-tf32" separately under a looser one. Without a GPU the checks say "skipped" and
# why; `--require cuda` turns that into a failure.

# %%
print({p: verify.provider_status(p) for p in verify.PROVIDERS})

# %% [markdown]
# ## The same model on a GPU, in both frameworks
# The frameworks place work on a device too. TensorFlow lists the GPUs it sees with
# `tf.config.list_physical_devices("GPU")` and runs the operations under `with tf.device(...)`
# there (by default it already puts them on the first GPU); PyTorch asks
# `torch.cuda.is_available()` and moves the model and every input with `.to(device)`, and the
# output back with `.cpu()` before NumPy can read it. Without a GPU both lists are empty and the
# same code runs on the CPU. Either way the outputs must be the artifact's stored ones, within the
# float32 tolerance: TF32 is switched off so a GPU computes in float32 as the CPU does.

# %% keras: tf.config and tf.device tags=["concept:device"]
import tensorflow as tf

tf.config.experimental.enable_tensor_float_32_execution(False)  # float32 products on a GPU, as on the CPU
gpus = tf.config.list_physical_devices("GPU")
keras_device = "/GPU:0" if gpus else "/CPU:0"
print("GPUs TensorFlow sees:", gpus or "none: it runs on the CPU")
with tf.device(keras_device):
    on_device = np.asarray(keras_model(x, training=False))
with tf.device("/CPU:0"):
    on_cpu = np.asarray(keras_model(x, training=False))
keras_device_gap = np.abs(on_device - keras_art.outputs["probs"]).max()
print(f"on {keras_device}: largest difference to the stored outputs {keras_device_gap:.1e}, "
      f"to the CPU's {np.abs(on_device - on_cpu).max():.1e}")
assert keras_device_gap < 1e-5 and np.abs(on_device - on_cpu).max() < 1e-5, "the device changed Keras's outputs"

# %% torch: torch.cuda and .to(device) tags=["concept:device"]
torch.backends.cuda.matmul.allow_tf32 = False  # float32 products on a GPU, as on the CPU
torch.backends.cudnn.allow_tf32 = False  # the convolutions' switch (PyTorch allows TF32 there by default)
torch_device = "cuda" if torch.cuda.is_available() else "cpu"
print("GPU available to PyTorch:", torch.cuda.is_available(), "-> device", torch_device)
inputs = torch.from_numpy(art.inputs["x"].copy())
with torch.no_grad():
    on_device = torch.softmax(torch_model.to(torch_device)(inputs.to(torch_device)), dim=1).cpu().numpy()
    on_cpu = torch.softmax(torch_model.cpu()(inputs), dim=1).numpy()
torch_device_gap = np.abs(on_device - art.outputs["probs"]).max()
print(f"on {torch_device}: largest difference to the stored outputs {torch_device_gap:.1e}, "
      f"to the CPU's {np.abs(on_device - on_cpu).max():.1e}")
assert torch_device_gap < 1e-5 and np.abs(on_device - on_cpu).max() < 1e-5, "the device changed PyTorch's outputs"

# %%
glue("verify_keras_device", keras_device)
glue("verify_torch_device", torch_device)
glue("verify_device_gap", max(keras_device_gap, torch_device_gap))

# %% [markdown]
# Here Keras ran on {glue:text}`verify_keras_device:s` and PyTorch on
# {glue:text}`verify_torch_device:s`, and both reproduced the stored outputs within
# {glue:text}`verify_device_gap:.1e`. On a GPU the first call is slower (kernels load, memory is
# reserved); it pays off on large batches and models, not on one 32x32 image.
#
# ## How close is close?
# The largest |ONNX Runtime - native| of each check on the float32 artifacts. (The fp16 and int8
# variants are held to their own, looser tolerances: `xdl/spec/tolerance.py`.)

# %%
variants = ("-fp16", "-int8", "-int8-static")
errors = [c.max_abs for c in report.checks if c.max_abs is not None and not c.framework.endswith(variants)]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(np.log10(np.maximum(errors, 1e-12)), bins=30)
ax.axvline(-5, color="red", label="float32 tolerance 1e-5")
ax.set_xlabel("log10 max abs error of a check")
ax.set_ylabel("checks")
ax.legend()
save_figure(fig, "10_parity_errors")
print(f"{len(errors)} checks; worst {max(errors):.1e}, median {np.median(errors):.1e}")
glue("verify_checks", len(errors))
glue("verify_worst", max(errors))

# %% [markdown]
# Of the {glue:text}`verify_checks:d` float32 checks the worst is {glue:text}`verify_worst:.1e`:
# ONNX Runtime and the frameworks sum in different orders, and float32 rounding does the rest.
# A check passes when every value is within $\text{atol} + \text{rtol} \cdot |\text{expected}|$
# (1e-5 each for float32), so an error a little above the red line passes on large outputs.
#
# ## Exercises
# 1. Restore the Keras weights into a model built with one more unit in its last layer
#    (`cnn_keras.build` copied, `Dense(11)`): what does `load_weights` say, and why is that better
#    than loading silently?
# 2. Run `xdl verify exported_models/cnn --require cuda` on this machine: what exit code does it
#    give without a GPU (`echo $?`), and what does it print?
# 3. In the device cells, leave TF32 on (delete the two `allow_tf32` lines and the
#    `enable_tensor_float_32_execution` call) and run on a GPU: how large is the difference to the
#    CPU now?
