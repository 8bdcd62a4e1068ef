import Kernels

/// A gated feed-forward block: `down(act(gate(x)) · up(x))`, with SiLU (SwiGLU: Llama, Qwen, Mistral) or GELU's tanh
/// approximation (GeGLU: Gemma) as the activation.
struct FeedForward: Sendable {
    enum Activation: Sendable { case silu, geluTanh }

    var gate, up, down: Projection
    var activation: Activation

    /// Reads layer `layer`'s `ffn_gate`, `ffn_up` and `ffn_down`.
    init(_ store: TensorStore, layer: Int, config: ModelConfig, activation: Activation) throws(ModelFileError) {
        let p = "blk.\(layer).", d = config.hiddenSize, f = config.intermediateSize
        gate = try store.projection(p + "ffn_gate.weight", rows: f, columns: d)
        up = try store.projection(p + "ffn_up.weight", rows: f, columns: d)
        down = try store.projection(p + "ffn_down.weight", rows: d, columns: f)
        self.activation = activation
    }

    /// The block's output (`tokens × hidden`) for the normalized input `normed`.
    func callAsFunction(_ normed: [Float], tokens: Int) -> [Float] {
        let gateUp = Projection.multiply([gate, up], normed, tokens: tokens)
        var hidden = gateUp[0]
        let n = hidden.count
        hidden.withUnsafeMutableBufferPointer { g in
            gateUp[1].withUnsafeBufferPointer { u in
                switch activation {
                case .silu: VectorOps.swiGLU(g.baseAddress!, up: u.baseAddress!, n)
                case .geluTanh: VectorOps.geGLU(g.baseAddress!, up: u.baseAddress!, n)
                }
            }
        }
        return down(hidden, tokens: tokens)
    }
}
