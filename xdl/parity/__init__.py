"""Parity: the two twins (and their exports) compared with each other.

matrix.py (one set of weights run every way, every pair compared), layers.py (the first layer
where the twins part), steps.py (training parity: K optimizer steps from the same weights),
live.py (fresh and fuzzed inputs through the native twins and their exports), users.py (a
user's own model against its ONNX export: `xdl check`).
"""
