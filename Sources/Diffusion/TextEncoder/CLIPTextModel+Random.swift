import Tensor

extension CLIPTextModel {
    /// Deterministic random weights for `config` (no file needed): benchmarks and smoke runs.
    ///
    /// Layer-norm scales near 1, small biases, matrices scaled by 1/√fan-in so activations stay
    /// in a realistic range through all layers.
    public static func randomWeights(config: CLIPTextConfig, seed: UInt64 = 0) -> WeightStore {
        var tensors: [String: Tensor] = [:]
        for (stream, (name, shape)) in expectedWeights(config: config).sorted(by: { $0.key < $1.key }).enumerated() {
            let (mean, halfWidth): (Double, Double)
            if name.contains("layer_norm"), name.hasSuffix(".weight") {
                (mean, halfWidth) = (1, 0.1)
            } else if name.hasSuffix(".bias") {
                (mean, halfWidth) = (0, 0.02)
            } else if name.contains("embedding") {
                (mean, halfWidth) = (0, 0.5)
            } else {
                (mean, halfWidth) = (0, (3.0 / Double(shape[1])).squareRoot())
            }
            tensors[name] = SyntheticWeights.tensor(seed: seed, stream: UInt64(stream), shape: shape,
                                                    mean: mean, halfWidth: halfWidth)
        }
        return WeightStore(tensors: tensors)
    }
}
