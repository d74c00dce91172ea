"""autoencoder's twins (keras.py, torch.py) and port table (port.py); its spec is xdl/spec/zoo/autoencoder.py."""
