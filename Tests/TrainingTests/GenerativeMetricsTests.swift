import Foundation
import Testing
import Tensor
import TestSupport
import Training

/// FID and Inception Score against pytorch-fid's and the original implementation's formulas on
/// fixtures (scripts/make_generative_metrics_fixtures.py, SciPy's sqrtm and entropy).
@Suite struct GenerativeMetricsTests {
    let fixture = Fixture("generative_metrics.safetensors")

    @Test func frechetDistanceMatchesPytorchFID() throws {
        for name in ["same", "shifted", "singular"] {
            let value = try GenerativeMetrics.frechetDistance(fixture.t("fid.\(name).a"), fixture.t("fid.\(name).b"))
            let reference = fixture.t("fid.\(name).value").item()
            #expect(Swift.abs(value - reference) < 1e-8 * Swift.max(1, reference), "\(name): \(value) vs \(reference)")
        }
        let a = fixture.t("fid.shifted.a")
        #expect(Swift.abs(try GenerativeMetrics.frechetDistance(a, a)) < 1e-9)
    }

    @Test func inceptionScoreMatchesTheOriginal() throws {
        for splits in [1, 4] {
            let probabilities = fixture.t("is.probabilities")
            let score = try GenerativeMetrics.inceptionScore(probabilities: probabilities, splits: splits)
            let reference = fixture.t("is.splits\(splits)").doubles
            #expect(Swift.abs(score.mean - reference[0]) < 1e-12 && Swift.abs(score.std - reference[1]) < 1e-12)
        }
    }

    @Test func badInputNamesTheRule() {
        #expect(throws: ConfigurationError.self) {
            try GenerativeMetrics.frechetDistance(Tensor.zeros([5, 3]), Tensor.zeros([5, 4]))
        }
        do {
            _ = try GenerativeMetrics.inceptionScore(probabilities: Tensor.ones([3, 2]), splits: 5)
            Issue.record("accepted 5 splits of 3 rows")
        } catch {
            #expect("\(error)" == "splits = 5: must lie in 1...3 (the rows)")
        }
    }
}
