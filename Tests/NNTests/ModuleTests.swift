import Autograd
import Testing
@testable import NN
import Tensor

/// The Swift twin of the `Net` in scripts/make_nn_fixtures.py: same structure, so same keys.
final class Block: Module {
    let conv1 = Conv2d(4, 4, kernelSize: 3, padding: 1, bias: false, dtype: .float64)
    let bn1 = BatchNorm2d(4, dtype: .float64)
    let downsample = Sequential(Conv2d(4, 4, kernelSize: 1, bias: false, dtype: .float64),
                                BatchNorm2d(4, dtype: .float64))
    override func callAsFunction(_ x: Variable) -> Variable { (bn1(conv1(x)) + downsample(x)).relu() }
}

final class Net: Module {
    let stem = Conv2d(3, 4, kernelSize: 3, stride: 2, padding: 1, dtype: .float64)
    let layer1 = Sequential(Block(), Block())
    let normLayer = LayerNorm(4, dtype: .float64)
    let lastLayer = WeightNormLinear(4, 3, dtype: .float64)
    override func callAsFunction(_ x: Variable) -> Variable {
        lastLayer(normLayer(layer1(stem(x)).mean(axes: [2, 3])))
    }
}

/// A module whose Swift names cannot be PyTorch's keys (`nn.MultiheadAttention`'s `in_proj_weight`).
final class PackedProjection: Module {
    override class var stateDictKeys: [String: String] { ["inputProjection": "in_proj_weight", "output": "out_proj"] }
    let inputProjection = Variable.parameter(Tensor.zeros([6, 2]))
    let output = Linear(2, 2)
}

@Suite struct ModuleTests {
    @Test func keysAreExactlyPyTorchs() throws {
        let torchKeys = try #require(Reference.meta["net.keys"] as? [String])
        #expect(Set(Net().stateDictKeys()) == Set(torchKeys))
        #expect(Net().namedParameters().map(\.name).contains("layer1.1.downsample.1.weight"))
        #expect(Net().namedBuffers().map(\.name).contains("layer1.0.bn1.num_batches_tracked"))
    }

    @Test func loadsPyTorchStateDictAndReproducesItsOutput() throws {
        let net = Net()
        try net.loadStateDict(Reference.state("net.state"))
        net.eval()
        expectClose(net(Variable(Reference.t("net.x"))).data, Reference.t("net.y"), atol: 1e-12)
        // The state dict round-trips.
        let copy = Net()
        try copy.loadStateDict(net.stateDict())
        copy.eval()
        expectClose(copy(Variable(Reference.t("net.x"))).data, Reference.t("net.y"), atol: 1e-12)
    }

    @Test func toConvertsFloatingPartsInPlace() {
        let net = Net()
        let weight = net.stem.weight
        net.to(.float32)
        #expect(net.stem.weight === weight && weight.dtype == .float32)
        #expect(net.namedParameters().allSatisfy { $0.parameter.dtype == .float32 })
        let buffers = Dictionary(uniqueKeysWithValues: net.namedBuffers().map { ($0.name, $0.buffer.value.dtype) })
        #expect(buffers["layer1.0.bn1.running_var"] == .float32
                && buffers["layer1.0.bn1.num_batches_tracked"] == .int64)
        #expect(net(Variable(Tensor.zeros([1, 3, 8, 8]))).dtype == .float32)
    }

    @Test func strictLoadingNamesMissingUnexpectedAndMisshapedKeys() {
        var state = Reference.state("net.state")
        state["stem.bias"] = nil
        state["head.weight"] = Tensor.zeros([2])
        do {
            try Net().loadStateDict(state)
            Issue.record("strict load accepted a bad state dict")
        } catch let error as StateDictError {
            #expect(error.missing == ["stem.bias"])
            #expect(error.unexpected == ["head.weight"])
            #expect(error.description.contains("stem.bias") && error.description.contains("head.weight"))
        } catch { Issue.record("unexpected error \(error)") }

        // Non-strict loading reports the same keys and loads the rest.
        let net = Net()
        let report = try? net.loadStateDict(state, strict: false)
        #expect(report == LoadReport(missing: ["stem.bias"], unexpected: ["head.weight"]))
        expectClose(net.stem.weight.data, Reference.t("net.state.stem.weight"), atol: 0)

        // A shape mismatch is an error even when not strict.
        state["stem.weight"] = Tensor.zeros([4, 3, 5, 5])
        #expect(throws: StateDictError.self) { try Net().loadStateDict(state, strict: false) }
        do { try Net().loadStateDict(state, strict: false) } catch let error as StateDictError {
            #expect(error.mismatched.first?.key == "stem.weight")
            #expect(error.description.contains("[4, 3, 3, 3]") && error.description.contains("[4, 3, 5, 5]"))
        } catch {}
    }

    @Test func prefixesAreStripped() throws {
        let state = Reference.state("net.state")
        let wrapped = Dictionary(uniqueKeysWithValues: state.map { ("module.backbone." + $0.key, $0.value) })
        try Net().loadStateDict(strippingPrefix("backbone.", from: strippingPrefix("module.", from: wrapped)))
    }

    @Test func trainEvalPropagatesAndFreezingStopsGradients() {
        let net = Net()
        net.eval()
        #expect(net.namedModules().allSatisfy { !$0.module.isTraining })
        net.train()
        #expect(net.layer1[1].isTraining)

        let frozen = net.freeze("layer1.*.bn1")
        #expect(frozen == ["layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.1.bn1.weight", "layer1.1.bn1.bias"])
        #expect(net.freeze("last_layer.weight_g") == ["last_layer.weight_g"])
        net(Variable(randn([2, 3, 8, 8], seed: 1))).sum().backward()
        #expect(net.lastLayer.weightG.grad == nil && net.lastLayer.weightV.grad != nil)
        #expect((net.layer1[0] as! Block).bn1.weight!.grad == nil)
        #expect(net.stem.weight.grad != nil)

        let total = net.parameterCount()
        #expect(total == 3 * 4 * 9 + 4 + 2 * (4 * 4 * 9 + 8 + 16 + 8) + 8 + 4 * 3 + 3)
        #expect(net.parameterCount(trainableOnly: true) == total - 16 - 3)
    }

    @Test func explicitKeysReplaceThePropertyNames() throws {
        let m = PackedProjection()
        #expect(m.stateDictKeys() == ["in_proj_weight", "out_proj.weight", "out_proj.bias"])
        let weights = Tensor((0..<12).map(Float.init), shape: [6, 2])
        try m.loadStateDict(["in_proj_weight": weights, "out_proj.weight": .ones([2, 2]), "out_proj.bias": .zeros([2])])
        #expect(m.inputProjection.data.doubles == weights.doubles && m.output.weight.data.doubles == [1, 1, 1, 1])
    }

    @Test func snakeCaseNames() {
        #expect(Module.stateDictName("runningMean") == "running_mean")
        #expect(Module.stateDictName("weightG") == "weight_g")
        #expect(Module.stateDictName("layer1") == "layer1")
        #expect(Module.stateDictName("_clsToken") == "cls_token")
    }

    @Test func dinoParameterGroupsExcludeBiasesAndNorms() {
        let groups = ParameterGroup.dinoGroups(Net(), learningRate: 0.1, weightDecay: 0.04)
        #expect(groups[0].weightDecay == 0.04 && groups[1].weightDecay == 0)
        #expect(groups[0].parameters.allSatisfy { $0.rank > 1 })
        #expect(groups[1].parameters.allSatisfy { $0.rank == 1 })
        #expect(groups[0].parameters.count + groups[1].parameters.count == Net().parameters().count)
    }
}
