import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory.
///
/// Pages are read from disk only when touched, so a pipeline stage that uses a few layers keeps only those layers
/// resident. The mapping is private and read-only: the process never writes through it.
///
/// `@unchecked Sendable`: after `init` the mapping is immutable and only unmapped in `deinit`, when no one holds it.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let count: Int

    /// Maps `path`. Throws `ModelFileError` if it cannot be opened, is empty, or cannot be mapped.
    public init(path: String) throws(ModelFileError) {
        self.path = path
        // O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; the S_IFREG check below refuses it.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw ModelFileError(file: path, problem: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelFileError(file: path, problem: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFileError(file: path, problem: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else { throw ModelFileError(file: path, problem: "file is empty") }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw ModelFileError(file: path, problem: "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(address)
        count = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), count)
    }

    /// The bytes of `path` if it is (or links to) a regular file; nil otherwise. Reading a FIFO or a device named
    /// as a model's JSON file would wait for a writer forever.
    static func regularFileContents(_ path: String) -> Data? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileManager.default.contents(atPath: path)
    }
}

/// A bounds-checked little-endian reader over a byte range, used by the file parsers.
struct ByteCursor {
    let file: String
    let base: UnsafeRawPointer
    let end: Int
    var offset: Int

    init(file: String, base: UnsafeRawPointer, count: Int, offset: Int = 0) {
        self.file = file
        self.base = base
        self.end = count
        self.offset = offset
    }

    var remaining: Int { end - offset }

    func error(_ problem: String, at position: Int? = nil) -> ModelFileError {
        ModelFileError(file: file, location: "offset \(position ?? offset)", problem: problem)
    }

    mutating func require(_ bytes: Int, for what: String) throws(ModelFileError) {
        guard bytes >= 0, bytes <= remaining else {
            throw error("truncated: \(what) needs \(bytes) bytes but only \(remaining) remain (file size \(end))")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(ModelFileError) -> T {
        try require(MemoryLayout<T>.size, for: what)
        let value = T(littleEndian: (base + offset).loadUnaligned(as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func readBytes(_ count: Int, _ what: String) throws(ModelFileError) -> UnsafeRawBufferPointer {
        try require(count, for: what)
        let buffer = UnsafeRawBufferPointer(start: base + offset, count: count)
        offset += count
        return buffer
    }
}
