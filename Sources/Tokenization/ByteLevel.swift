/// GPT-2's reversible mapping between bytes and printable Unicode scalars, in which byte-level BPE
/// vocabularies are written (a space is `Ġ` U+0120, a newline `Ċ` U+010A, and so on).
enum ByteLevel {
    /// `scalarForByte[b]` is the scalar that stands for byte `b`: the byte itself for the printable ranges
    /// `!`…`~`, `¡`…`¬`, `®`…`ÿ`, and 256, 257, … in byte order for the others.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The inverse of ``scalarForByte``, indexed by scalar value below `byteForScalar.count`; -1 when unmapped.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar)] = Int16(byte) }
        return table
    }()

    /// The byte-level spelling of `bytes` (how a word is looked up in the vocabulary).
    static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var result = String.UnicodeScalarView()
        for byte in bytes {
            if let scalar = Unicode.Scalar(scalarForByte[Int(byte)]) { result.append(scalar) }
        }
        return String(result)
    }

    /// The bytes a token stands for, as the `ByteLevel` decoder of `tokenizers` computes them: each scalar
    /// mapped back to its byte, or, if any scalar of the token is outside the byte alphabet (added tokens such
    /// as `"   "`), the token's own UTF-8.
    static func decode(_ token: String) -> [UInt8] {
        strictDecode(token) ?? Array(token.utf8)
    }

    /// The bytes of `token` if every scalar is in the byte alphabet, else `nil` (such a token can never be
    /// produced by merging byte-level symbols).
    static func strictDecode(_ token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForScalar.count, byteForScalar[value] >= 0 else { return nil }
            bytes.append(UInt8(byteForScalar[value]))
        }
        return bytes
    }
}
