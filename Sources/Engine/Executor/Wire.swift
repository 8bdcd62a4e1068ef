/// Little-endian binary encoding of the executor's messages. Every rank runs the same build, so the format carries no
/// version; a reader that finds the bytes inconsistent throws instead of trusting them.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Int) { write(Int64(value)) }
    public mutating func write(_ value: Bool) { write(UInt8(value ? 1 : 0)) }
    public mutating func write(_ value: Double) { write(value.bitPattern) }
    public mutating func write(_ value: Float) { write(value.bitPattern) }

    public mutating func write(_ value: String) {
        let utf8 = Array(value.utf8)
        write(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    /// A count, then the elements copied as they are in memory (bit-exact; every rank is little-endian x86-64).
    public mutating func write<T: BitwiseCopyable>(_ values: [T]) {
        write(values.count)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

/// Why a message could not be decoded: a bug or a version mismatch between ranks, never a user error.
public struct WireError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { "malformed executor message: \(message)" }
}

public struct WireReader: Sendable {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else {
            throw WireError(message: "needs \(count) bytes at offset \(offset) of \(bytes.count)")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws(WireError) -> T {
        let slice = try take(MemoryLayout<T>.size)
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: slice) }
        return T(littleEndian: value)
    }

    public mutating func readInt() throws(WireError) -> Int { Int(try read(Int64.self)) }
    public mutating func readBool() throws(WireError) -> Bool { try read(UInt8.self) != 0 }
    public mutating func readDouble() throws(WireError) -> Double { Double(bitPattern: try read(UInt64.self)) }
    public mutating func readFloat() throws(WireError) -> Float { Float(bitPattern: try read(UInt32.self)) }

    /// A count that must fit in the bytes left, at `elementSize` bytes per element.
    public mutating func readCount(elementSize: Int) throws(WireError) -> Int {
        let count = try readInt()
        guard count >= 0, count <= (bytes.count - offset) / max(1, elementSize) else {
            throw WireError(message: "count \(count) at offset \(offset - 8) exceeds the message")
        }
        return count
    }

    public mutating func readString() throws(WireError) -> String {
        let count = try readCount(elementSize: 1)
        return String(decoding: try take(count), as: UTF8.self)
    }

    /// An array written by `WireWriter.write(_: [T])`.
    public mutating func readArray<T: BitwiseCopyable>(of _: T.Type = T.self) throws(WireError) -> [T] {
        let size = MemoryLayout<T>.stride
        let count = try readCount(elementSize: size)
        let slice = try take(count * size)
        // Not through `unsafeUninitializedCapacity` when empty: it would store the count into the shared empty-array
        // singleton, a (benign) write that ThreadSanitizer reports as a race between ranks.
        guard count > 0 else { return [] }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyBytes(from: slice)
            initialized = count
        }
    }

    public mutating func readFloats() throws(WireError) -> [Float] { try readArray() }
    public mutating func readInt32s() throws(WireError) -> [Int32] { try readArray() }
}
