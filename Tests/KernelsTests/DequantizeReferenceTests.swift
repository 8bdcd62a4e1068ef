import Foundation
import Kernels
import Testing

/// `dequantize` against `gguf.quants.dequantize` (gguf-py), bit for bit, on the random and edge-case blocks of every
/// encoding written by scripts/testdata/quant_blocks.py into `$BRIGADE_TESTDATA/quant-blocks`.
@Suite struct DequantizeReferenceTests {
    /// One encoding's entry in manifest.json.
    struct Entry: Decodable, CustomStringConvertible {
        let name: String
        let ggml_type: UInt32
        let block_elements: Int
        let block_bytes: Int
        let blocks: Int
        let edge_cases: [String]
        let blocks_file: String
        let values_file: String
        var description: String { name }
    }

    struct Manifest: Decodable {
        let gguf_version: String?
        let types: [Entry]
    }

    static var directory: String {
        (ProcessInfo.processInfo.environment["BRIGADE_TESTDATA"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/testdata") + "/quant-blocks"
    }

    struct MissingTestData: Error, CustomStringConvertible {
        let path: String
        var description: String { "missing test data \(path): run scripts/prepare-test-data first" }
    }

    /// The bytes of a file in the quant-blocks directory, failing the test with how to prepare it when it is missing.
    static func read(_ file: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Data {
        let path = directory + "/" + file
        guard let data = FileManager.default.contents(atPath: path) else {
            Issue.record("missing test data \(path): run scripts/prepare-test-data first", sourceLocation: sourceLocation)
            throw MissingTestData(path: path)
        }
        return data
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: try read("manifest.json"))
    }

    /// Every encoding Brigade reads has reference blocks, and the manifest's block geometry is Brigade's.
    @Test func everyEncodingIsCoveredWithGGUFBlockSizes() throws {
        let manifest = try Self.manifest()
        #expect(Set(manifest.types.map(\.ggml_type)) == Set(TensorType.allCases.map(\.rawValue)))
        for entry in manifest.types {
            let type = try #require(TensorType(rawValue: entry.ggml_type), "\(entry.name) is not a Brigade type")
            #expect(type.description == entry.name)
            #expect(type.blockElements == entry.block_elements, "\(entry.name) block elements")
            #expect(type.blockBytes == entry.block_bytes, "\(entry.name) block bytes")
        }
    }

    /// The one known difference: numpy widens an f16 signaling NaN to an f32 signaling NaN, while `Float(Float16)`
    /// (F16C `vcvtph2ps`) quiets it, setting the f32 quiet bit 0x0040_0000. Weights never hold signaling NaNs; every
    /// other f16 bit pattern, and every value of the quantized encodings, must match exactly.
    static func quietedIfSignaling(_ bits: UInt32, _ type: TensorType) -> UInt32 {
        let isSignalingNaN = bits & 0x7F80_0000 == 0x7F80_0000 && bits & 0x007F_FFFF != 0 && bits & 0x0040_0000 == 0
        return type == .f16 && isSignalingNaN ? bits | 0x0040_0000 : bits
    }

    @Test(arguments: TensorType.allCases)
    func dequantizeIsBitIdenticalToGGUFPy(type: TensorType) throws {
        let entry = try #require(try Self.manifest().types.first { $0.ggml_type == type.rawValue }, "no blocks for \(type)")
        let blocks = try Self.read(entry.blocks_file)
        let expected = try Self.read(entry.values_file)
        let count = entry.blocks * type.blockElements
        try #require(blocks.count == entry.blocks * type.blockBytes, "\(entry.blocks_file) has \(blocks.count) bytes")
        try #require(expected.count == 4 * count, "\(entry.values_file) has \(expected.count) bytes")
        let gguf: [UInt32] = expected.withUnsafeBytes { raw in
            (0..<count).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        let want = gguf.map { Self.quietedIfSignaling($0, type) }
        if type == .f16 { #expect(zip(gguf, want).filter { $0 != $1 }.count == 1022, "F16 has 2 × 511 signaling NaN patterns") }

        // All blocks in one call, and each block alone (a call starting mid-buffer, as rows do).
        var whole = [Float](repeating: .nan, count: count)
        var single = [Float](repeating: .nan, count: count)
        blocks.withUnsafeBytes { raw in
            whole.withUnsafeMutableBufferPointer { dequantize(type, raw.baseAddress!, count: count, into: $0.baseAddress!) }
            single.withUnsafeMutableBufferPointer { out in
                for b in 0..<entry.blocks {
                    dequantize(type, raw.baseAddress! + b * type.blockBytes, count: type.blockElements,
                               into: out.baseAddress! + b * type.blockElements)
                }
            }
        }
        let firstEdge = entry.blocks - entry.edge_cases.count
        var mismatches = 0
        for i in 0..<count where whole[i].bitPattern != want[i] || single[i].bitPattern != want[i] {
            mismatches += 1
            guard mismatches <= 10 else { continue }
            let block = i / type.blockElements
            let what = block >= firstEdge && type.blockElements > 1 ? "edge case \"\(entry.edge_cases[block - firstEdge])\"" : "block \(block)"
            Issue.record("""
                \(type) \(what), element \(i % type.blockElements): got \(whole[i]) (0x\(String(whole[i].bitPattern, radix: 16))), \
                alone \(single[i]) (0x\(String(single[i].bitPattern, radix: 16))), \
                gguf-py \(Float(bitPattern: want[i])) (0x\(String(want[i], radix: 16)))
                """)
        }
        #expect(mismatches == 0, "\(mismatches) of \(count) \(type) values differ from gguf-py (\(entry.blocks) blocks)")
    }
}
