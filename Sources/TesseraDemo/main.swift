// The main job until `tessera compare` lands: fit a two-layer MLP to two interleaved spirals
// with reverse-mode autodiff and plain gradient descent, printing the loss as it falls.
import Tessera

let pointsPerClass = 200, hidden = 64, steps = 600, learningRate = 0.2
let generator = RandomGenerator(seed: 42)

// Two spirals, one per class, with a little noise.
var coordinates: [Float] = [], labels: [Int64] = []
for cls in 0..<2 {
    for i in 0..<pointsPerClass {
        let r = Float(i) / Float(pointsPerClass) * 4
        let angle = r * 1.75 + Float(cls) * .pi + Float(generator.nextNormal()) * 0.15
        coordinates += [r * Float.cos(angle) / 4, r * Float.sin(angle) / 4]
        labels.append(Int64(cls))
    }
}
let x = Variable(Tensor(coordinates, shape: [2 * pointsPerClass, 2]))
let target = Tensor(labels).oneHot(classes: 2)

let w1 = Variable(Tensor.randn([2, hidden], std: 1, generator: generator), requiresGrad: true)
let b1 = Variable(Tensor.zeros([hidden]), requiresGrad: true)
let w2 = Variable(Tensor.randn([hidden, 2], std: 1 / Double(hidden).squareRoot(), generator: generator),
                  requiresGrad: true)
let b2 = Variable(Tensor.zeros([2]), requiresGrad: true)
let parameters = [w1, b1, w2, b2]

print("Fitting a 2-\(hidden)-2 MLP to \(2 * pointsPerClass) spiral points (cross-entropy, gradient descent)")
for step in 0...steps {
    let logits = (x.matmul(w1) + b1).tanh().matmul(w2) + b2
    let loss = -(logits.logSoftmax(axis: 1) * Variable(target)).sum(axis: 1).mean()
    loss.backward()
    noGrad {
        for p in parameters {
            p.data -= p.grad! * learningRate
            p.grad = nil
        }
    }
    if step % 60 == 0 {
        let predicted = logits.data.argmax(axis: 1)
        let accuracy = (predicted .== Tensor(labels)).converted(to: .float32).mean().item()
        print("step \(String(step).padding(3)) loss \(formatted(loss.data.item())) "
              + "accuracy \(formatted(accuracy * 100))%")
    }
}

func formatted(_ v: Double) -> String {
    let scaled = (v * 10000).rounded() / 10000
    return String(scaled)
}

extension String {
    func padding(_ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - count)) + self }
}
