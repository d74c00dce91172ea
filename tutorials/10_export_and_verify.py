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

from xdl import artifacts, backends, verify
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure)
from xdl.teach.helpers import pyplot, save_figure

plt = pyplot()
# The repository's exported_models/, from wherever this runs (the repository root, or tutorials/ as a notebook).
root = next(p / "exported_models" for p in (Path.cwd(), *Path.cwd().parents) if (p / "exported_models").is_dir())
art = artifacts.load(root / "cnn" / "torch")  # sizes and sha256 checked before anything is parsed
print("files:", sorted(art.manifest["files"]))
print("contract:", art.manifest["contract"]["inputs"][0], "->", art.manifest["contract"]["outputs"][0]["name"])
print("tolerance on CPU:", art.manifest["tolerance"]["outputs"]["probs"]["cpu"])

# %% [markdown]
# ## Saving and restoring
# Restore the PyTorch weights into a fresh twin and check it reproduces the stored outputs.

# %% keras: restore
spec = registry.get("cnn")
kfw = backends.load("keras")
knet = kfw.build(spec)
kfw.load_weights(knet, root / "cnn" / "keras" / kfw.WEIGHTS_FILE)  # model.load_weights(path)
keras_art = artifacts.load(root / "cnn" / "keras")
x = spec.from_feeds(keras_art.inputs)
print("Keras restored vs stored outputs:", np.abs(kfw.predict(knet, spec, x) - keras_art.outputs["probs"]).max())

# %% torch: restore
tfw = backends.load("torch")
tnet = tfw.build(spec)
tfw.load_weights(tnet, root / "cnn" / "torch" / tfw.WEIGHTS_FILE)  # load_state_dict(safetensors.load_file(path))
print("PyTorch restored vs stored outputs:", np.abs(tfw.predict(tnet, spec, x) - art.outputs["probs"]).max())

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
