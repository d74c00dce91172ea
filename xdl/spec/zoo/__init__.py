"""The reference zoo's specs: one module per model, each holding SPEC (plain dataclasses).

They sit here, below everything that reads them, and not beside the twins in xdl/models/<name>/:
a model is judged by its spec wherever it is verified, and verifying loads no model or data-set
code (tests/project/test_runtime_layers.py).
"""
