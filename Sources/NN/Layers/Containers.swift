import Autograd

/// Modules applied in order (`torch.nn.Sequential`; keys `0.weight`, `1.running_mean`, …).
public final class Sequential: Module, ModuleContainer {
    public let modules: [Module]

    public init(_ modules: [Module]) { self.modules = modules }
    public convenience init(_ modules: Module...) { self.init(modules) }

    public override func callAsFunction(_ x: Variable) -> Variable { modules.reduce(x) { $1($0) } }

    public subscript(index: Int) -> Module { modules[index] }
    public var count: Int { modules.count }
}

/// A list of modules registered by index (`torch.nn.ModuleList`), for models that loop over them.
public final class ModuleList<Element: Module>: Module, ModuleContainer {
    public let modules: [Element]

    public init(_ modules: [Element]) { self.modules = modules }

    public subscript(index: Int) -> Element { modules[index] }
    public var count: Int { modules.count }
}
