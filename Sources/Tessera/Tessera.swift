// `import Tessera` gives the whole public surface.
@_exported import Tensor
@_exported import Autograd
@_exported import NN
@_exported import Vision
@_exported import Zoo
@_exported import Distributed
@_exported import Training
@_exported import Experiments
