import Foundation
import Model
import Testing

/// Every malformed-file path ends in a typed `ModelFileError` naming the file, the place and the problem.
@Suite struct CorruptFileTests {
    static func write(_ data: Data, name: String = UUID().uuidString) throws -> String {
        let path = NSTemporaryDirectory() + "brigade-test-\(name).gguf"
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Loads `builder`'s file as a whole model and returns the error's text (or nil if it loaded).
    static func loadError(_ data: Data) throws -> ModelFileError? {
        let path = try write(data)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ModelWeights.open(path).stage()
            return nil
        } catch {
            #expect(error.file == path)
            return error
        }
    }

    @Test func validTinyFileLoads() throws {
        #expect(try Self.loadError(GGUFBuilder.tinyLlama().build()) == nil)
    }

    /// A FIFO named as the model (or as a checkpoint's config.json) is refused at once: opening or reading it would
    /// otherwise wait for a writer forever.
    @Test func aFIFOIsRefusedWithoutWaiting() throws {
        let directory = NSTemporaryDirectory() + "brigade-fifo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(mkfifo(directory + "/model.gguf", 0o600) == 0 && mkfifo(directory + "/config.json", 0o600) == 0)
        for path in [directory + "/model.gguf", directory] {
            do {
                _ = try ModelWeights.open(path)
                Issue.record("\(path) opened")
            } catch {
                #expect("\(error)".contains("not a regular file"), "\(error)")
            }
        }
    }

    @Test func wrongMagic() throws {
        var b = GGUFBuilder.tinyLlama()
        b.magic = Array("GGML".utf8)
        let error = try #require(try Self.loadError(b.build()))
        #expect(error.problem.contains("not a GGUF file"))
        #expect(error.location == "offset 0")
    }

    @Test func unsupportedVersion() throws {
        var b = GGUFBuilder.tinyLlama()
        b.version = 1
        #expect(try #require(try Self.loadError(b.build())).problem.contains("unsupported GGUF version 1"))
    }

    @Test(arguments: [5, 20, 100, 400, 900])
    func truncatedHeaderAtEveryRegion(length: Int) throws {
        let full = GGUFBuilder.tinyLlama().build()
        let error = try #require(try Self.loadError(full.prefix(length)))
        #expect(error.problem.contains("truncated") || error.problem.contains("remain") || error.problem.contains("absurd"))
    }

    @Test func truncatedTensorData() throws {
        let full = GGUFBuilder.tinyLlama().build()
        let error = try #require(try Self.loadError(full.prefix(full.count - 100)))
        #expect(error.location == "tensor blk.0.ffn_down.weight")
        #expect(error.problem.contains("extends past the end of the file"))
    }

    @Test func absurdCounts() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensorCountOverride = 1 << 60
        #expect(try #require(try Self.loadError(b.build())).problem.contains("absurd tensor count"))
        b = GGUFBuilder.tinyLlama()
        b.keyCountOverride = UInt64.max
        #expect(try #require(try Self.loadError(b.build())).problem.contains("absurd metadata key count"))
        b = GGUFBuilder.tinyLlama()
        // An array claiming 2^61 strings.
        var bytes: [UInt8] = [8, 0, 0, 0]
        withUnsafeBytes(of: UInt64(1 << 61).littleEndian) { bytes.append(contentsOf: $0) }
        b.metadata.append(("tokenizer.ggml.tokens", .raw(type: 9, bytes: bytes)))
        #expect(try #require(try Self.loadError(b.build())).problem.contains("cannot fit"))
        b = GGUFBuilder.tinyLlama()
        var huge: [UInt8] = []
        withUnsafeBytes(of: UInt64(1 << 62).littleEndian) { huge.append(contentsOf: $0) }
        b.metadata.append(("general.name", .raw(type: 8, bytes: huge)))
        #expect(try #require(try Self.loadError(b.build())).problem.contains("claims"))
    }

    @Test func unknownTypes() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[4].type = 16  // IQ2_XXS
        let error = try #require(try Self.loadError(b.build()))
        #expect(error.location == "tensor blk.0.attn_q.weight")
        #expect(error.problem.contains("unsupported tensor type 16 (IQ2_XXS)"))
        b = GGUFBuilder.tinyLlama()
        b.metadata.append(("weird", .raw(type: 77, bytes: [0, 0, 0, 0])))
        #expect(try #require(try Self.loadError(b.build())).problem.contains("unknown metadata value type 77"))
    }

    @Test func offsetsAndShapes() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[2].offset = 1 << 40
        #expect(try #require(try Self.loadError(b.build())).problem.contains("extends past the end"))
        b = GGUFBuilder.tinyLlama()
        b.tensors[2].offset += 4
        #expect(try #require(try Self.loadError(b.build())).problem.contains("not aligned"))
        b = GGUFBuilder.tinyLlama()
        b.tensors[4].shape = [32, 32, 32, 32, 32]
        #expect(try #require(try Self.loadError(b.build())).problem.contains("5 dimensions"))
        b = GGUFBuilder.tinyLlama()
        b.tensors[4].shape = [0xFFFF_FFFF, 0xFFFF_FFFF]
        #expect(try #require(try Self.loadError(b.build())).problem.contains("absurd dimension"))
        b = GGUFBuilder.tinyLlama()
        b.tensors[5].shape = [32, 16]  // attn_k with the wrong number of rows
        let error = try #require(try Self.loadError(b.build()))
        #expect(error.location == "tensor blk.0.attn_k.weight")
        #expect(error.problem.contains("expected 32×32"))
    }

    @Test func missingTensorsAndKeys() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors.removeAll { $0.name == "blk.0.ffn_up.weight" }
        let error = try #require(try Self.loadError(b.build()))
        #expect(error.location == "tensor blk.0.ffn_up.weight")
        #expect(error.problem.contains("missing"))
        b = GGUFBuilder.tinyLlama()
        b.metadata.removeAll { $0.0 == "llama.block_count" }
        #expect(try #require(try Self.loadError(b.build())).location == "key llama.block_count")
        b = GGUFBuilder.tinyLlama()
        b.metadata[0] = ("general.architecture", .string("mamba"))
        #expect(try #require(try Self.loadError(b.build())).problem.contains("not supported"))
        b = GGUFBuilder.tinyLlama()
        b.metadata[4] = ("llama.attention.head_count", .u32(3))
        #expect(try #require(try Self.loadError(b.build())).location == "model configuration")
    }

    /// Shapes that would make derived values trap (negative head dimension with RoPE scaling, a Gemma 3 window
    /// pattern out of range) are errors naming the key, checked before anything is derived from them.
    @Test func hostileShapesAreErrorsNotTraps() throws {
        var b = GGUFBuilder.tinyLlama()
        b.metadata += [("llama.attention.key_length", .i32(-6)), ("llama.rope.scaling.type", .string("linear")),
                       ("llama.rope.scaling.factor", .f32(4))]
        #expect(try #require(try Self.loadError(b.build())).location == "model configuration")
        b = GGUFBuilder.tinyLlama()
        b.metadata[0] = ("general.architecture", .string("gemma3"))
        b.metadata = b.metadata.map { ($0.0.replacingOccurrences(of: "llama.", with: "gemma3."), $0.1) }
        b.metadata += [("gemma3.attention.sliding_window", .u32(4)), ("gemma3.attention.sliding_window_pattern", .i32(-3))]
        let error = try #require(try Self.loadError(b.build()))
        #expect(error.location == "key gemma3.attention.sliding_window_pattern", "\(error)")
    }

    @Test func notAFile() throws {
        #expect(throws: ModelFileError.self) { try ModelWeights.open("/nonexistent/model.gguf") }
        let empty = try Self.write(Data(), name: "empty")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: ModelFileError(file: empty, problem: "file is empty")) { try ModelWeights.open(empty) }
    }

    @Test func safetensorsErrors() throws {
        let dir = NSTemporaryDirectory() + "brigade-st-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = #"{"architectures":["LlamaForCausalLM"],"hidden_size":32,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":8}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        func writeWeights(_ header: String, dataBytes: Int) throws {
            var d = Data()
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
            d.append(contentsOf: Array(header.utf8))
            d.append(Data(count: dataBytes))
            try d.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }
        func expectProblem(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try ModelWeights.open(dir).stage()
                Issue.record("expected an error containing \"\(text)\"", sourceLocation: sourceLocation)
            } catch {
                #expect(error.problem.contains(text), "\(error)", sourceLocation: sourceLocation)
            }
        }
        try writeWeights(#"{"model.norm.weight":{"dtype":"F32","shape":[32],"data_offsets":[0,128]}}"#, dataBytes: 64)
        expectProblem("truncated or corrupt")
        try writeWeights(#"{"model.norm.weight":{"dtype":"I64","shape":[32],"data_offsets":[0,256]}}"#, dataBytes: 256)
        expectProblem("unsupported dtype I64")
        try writeWeights("not json", dataBytes: 0)
        expectProblem("not a JSON object")
        try writeWeights(#"{"model.norm.weight":{"dtype":"F32","shape":[32],"data_offsets":[0,128]}}"#, dataBytes: 128)
        expectProblem("missing tensor")
    }
}
