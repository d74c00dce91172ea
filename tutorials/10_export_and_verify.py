# %% [markdown]
# # 10. Saving, exporting to ONNX and verifying for deployment
#
# A trained model is saved twice in xdl: as the framework's own weights (Keras `.weights.h5`,
# PyTorch `.safetensors`: tensors only, loading them runs no code) and as an ONNX graph that any
# runtime can execute. Deployment then rests on one question: does the exported graph compute
# what the framework computed? This tutorial answers it for the committed artifacts, on CPU and,
# where a GPU and onnxruntime-gpu are present, on CUDA.

# %%
from pathlib import Path

import numpy as np

from xdl import artifacts, verify
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), where the
# repository's exported_models/ is (exported_models)
from xdl.teach.helpers import exported_models, pyplot, save_figure

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
