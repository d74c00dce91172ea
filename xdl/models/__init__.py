"""The reference zoo: one package per model, each with SPEC, keras.py and torch.py."""
