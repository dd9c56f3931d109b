@_exported import TestSupport

/// PyTorch's reference values (written by scripts/make_nn_fixtures.py, float64).
let Reference = Fixture("nn_layers.safetensors")
