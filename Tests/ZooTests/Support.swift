@_exported import TestSupport

/// timm/torchvision reference values (scripts/make_zoo_fixtures.py).
let Reference = Fixture("zoo.safetensors")
