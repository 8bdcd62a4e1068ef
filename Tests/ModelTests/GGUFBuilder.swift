import Foundation

/// Writes GGUF files byte by byte for tests, including deliberately broken ones.
struct GGUFBuilder {
    enum Value {
        case u32(UInt32), i32(Int32), f32(Float), u64(UInt64), bool(UInt8), string(String), strings([String])
        case raw(type: UInt32, bytes: [UInt8])
    }

    struct Tensor {
        var name: String
        var shape: [UInt64]
        var type: UInt32
        var offset: UInt64
    }

    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(String, Value)] = []
    var tensors: [Tensor] = []
    var tensorCountOverride: UInt64?
    var keyCountOverride: UInt64?
    var data: [UInt8] = []
    var alignment = 32

    func build() -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        out.append(contentsOf: magic)
        u32(version)
        u64(tensorCountOverride ?? UInt64(tensors.count))
        u64(keyCountOverride ?? UInt64(metadata.count))
        for (key, value) in metadata {
            string(key)
            switch value {
            case .u32(let v): u32(4); u32(v)
            case .i32(let v): u32(5); u32(UInt32(bitPattern: v))
            case .f32(let v): u32(6); u32(v.bitPattern)
            case .u64(let v): u32(10); u64(v)
            case .bool(let v): u32(7); out.append(v)
            case .string(let s): u32(8); string(s)
            case .strings(let a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(string)
            case .raw(let type, let bytes): u32(type); out.append(contentsOf: bytes)
            }
        }
        for t in tensors {
            string(t.name)
            u32(UInt32(t.shape.count))
            t.shape.forEach(u64)
            u32(t.type)
            u64(t.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        out.append(contentsOf: data)
        return out
    }

    /// A valid one-layer Llama with F32 weights (hidden 32, 2 heads of 16, FFN 32, vocab 8); the tensors named in
    /// `q8_0` are stored as Q8_0 instead (one block per 32-value row).
    static func tinyLlama(q8_0: Set<String> = []) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.metadata = [
            ("general.architecture", .string("llama")), ("llama.block_count", .u32(1)),
            ("llama.embedding_length", .u32(32)), ("llama.feed_forward_length", .u32(32)),
            ("llama.attention.head_count", .u32(2)), ("llama.attention.head_count_kv", .u32(2)),
            ("llama.context_length", .u32(64)), ("llama.attention.layer_norm_rms_epsilon", .f32(1e-5)),
            ("llama.vocab_size", .u32(8)),
        ]
        let shapes: [(String, [UInt64])] = [
            ("token_embd.weight", [32, 8]), ("output_norm.weight", [32]), ("blk.0.attn_norm.weight", [32]),
            ("blk.0.ffn_norm.weight", [32]), ("blk.0.attn_q.weight", [32, 32]), ("blk.0.attn_k.weight", [32, 32]),
            ("blk.0.attn_v.weight", [32, 32]), ("blk.0.attn_output.weight", [32, 32]), ("blk.0.ffn_gate.weight", [32, 32]),
            ("blk.0.ffn_up.weight", [32, 32]), ("blk.0.ffn_down.weight", [32, 32]),
        ]
        var offset: UInt64 = 0
        for (name, shape) in shapes {
            let count = Int(shape.reduce(1, *))
            let values = (0..<count).map { Float(($0 * 7919 + Int(offset)) % 97) / 970 - 0.05 }
            let start = b.data.count
            if q8_0.contains(name) {
                b.tensors.append(Tensor(name: name, shape: shape, type: 8, offset: offset))
                for block in stride(from: 0, to: count, by: 32) {
                    let slice = values[block..<block + 32]
                    let d = Float16((slice.map(abs).max() ?? 0) / 127)
                    withUnsafeBytes(of: d.bitPattern.littleEndian) { b.data.append(contentsOf: $0) }
                    for v in slice { b.data.append(UInt8(bitPattern: Int8(d == 0 ? 0 : (v / Float(d)).rounded()))) }
                }
            } else {
                b.tensors.append(Tensor(name: name, shape: shape, type: 0, offset: offset))
                for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { b.data.append(contentsOf: $0) } }
            }
            let bytes = b.data.count - start
            offset += UInt64(bytes)
            while offset % 32 != 0 {
                offset += 1
                b.data.append(0)
            }
        }
        return b
    }
}
