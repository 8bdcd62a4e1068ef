#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Kernels

/// Why the link between the supervisor and a rank failed.
public struct LinkError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func system(_ what: String) -> LinkError { LinkError("\(what): \(String(cString: strerror(errno)))") }
}

/// One end of a TCP connection that carries length-prefixed frames: `[UInt32 length][UInt8 kind][payload]`.
///
/// `@unchecked Sendable`: `descriptor` never changes; writes are serialized by `writeLock`; `buffer` belongs to
/// the one thread that reads the socket (each socket has a single reader by construction: the supervisor's and the
/// rank's link reader threads).
final class LinkSocket: @unchecked Sendable {
    let descriptor: Int32
    private let writeLock = Locked(())
    private var buffer: [UInt8] = []
    /// Where the next unread frame starts in `buffer`.
    private var readOffset = 0
    private var chunk = [UInt8](repeating: 0, count: 256 << 10)
    private let closed = Locked(false)
    /// Frames larger than this are refused (a logits row of a 1M vocabulary is 4 MB).
    static let maxFrameBytes = 256 << 20

    init(descriptor: Int32) {
        self.descriptor = descriptor
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { Glibc.close(descriptor) }

    /// Connects to `host:port` within `timeout` seconds.
    static func connect(host: String, port: Int, timeout: Double) throws(LinkError) -> LinkSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw LinkError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        let deadline = Date(timeIntervalSinceNow: timeout)
        var lastError = LinkError("cannot connect to \(host):\(port)")
        repeat {
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let address = entry {
                let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
                if fd >= 0 {
                    if Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 { return LinkSocket(descriptor: fd) }
                    lastError = .system("cannot connect to \(host):\(port)")
                    Glibc.close(fd)
                }
                entry = address.pointee.ai_next
            }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        throw lastError
    }

    /// Appends one frame to `bytes`.
    static func frame(kind: UInt8, payload: [UInt8], into bytes: inout [UInt8]) {
        withUnsafeBytes(of: UInt32(payload.count + 1).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(kind)
        bytes.append(contentsOf: payload)
    }

    /// Sends one frame (whole, or throws). Safe from any thread.
    func send(kind: UInt8, payload: [UInt8]) throws(LinkError) {
        var frame = [UInt8]()
        frame.reserveCapacity(5 + payload.count)
        Self.frame(kind: kind, payload: payload, into: &frame)
        try sendFrames(frame)
    }

    /// Sends bytes that hold whole frames, in one piece. Safe from any thread.
    func sendFrames(_ frame: [UInt8]) throws(LinkError) {
        try writeLock.withLock { (_) throws(LinkError) in
            var sent = 0
            while sent < frame.count {
                let count = frame.withUnsafeBytes { bytes in
                    Glibc.send(descriptor, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw LinkError.system("send")
                }
                sent += count
            }
        }
    }

    /// The next frame, waiting up to `timeout` seconds: nil if none arrived in time.
    /// - Throws: `LinkError` when the peer closed the connection or it broke. Only the socket's reader calls this.
    func receive(timeout: Double) throws(LinkError) -> (kind: UInt8, payload: [UInt8])? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            if let frame = try takeFrame() { return frame }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, 1) * 1000) + 1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw LinkError.system("poll")
            }
            guard ready > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw LinkError.system("receive")
            }
            guard count > 0 else { throw LinkError("the connection was closed") }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    private func takeFrame() throws(LinkError) -> (kind: UInt8, payload: [UInt8])? {
        let available = buffer.count - readOffset
        guard available >= 4 else { return nil }
        let length = buffer.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: readOffset, as: UInt32.self))) }
        guard length >= 1, length <= Self.maxFrameBytes else { throw LinkError("a frame of \(length) bytes: the peer is not a Brigade link") }
        guard available >= 4 + length else {
            if readOffset > 0 {  // make room for the rest of this frame at the front
                buffer.removeFirst(readOffset)
                readOffset = 0
            }
            return nil
        }
        let kind = buffer[readOffset + 4]
        let payload = Array(buffer[(readOffset + 5)..<(readOffset + 4 + length)])
        readOffset += 4 + length
        if readOffset == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readOffset = 0
        }
        return (kind, payload)
    }

    /// Shuts the connection down both ways (a blocked reader wakes with an error). Idempotent.
    func shutDown() {
        let first = closed.withLock { closed in defer { closed = true }; return !closed }
        if first { shutdown(descriptor, Int32(SHUT_RDWR)) }
    }
}

/// A listening TCP socket that hands out connections.
final class LinkListener: Sendable {
    let descriptor: Int32
    /// The port it listens on (the one asked for, or the one the system chose for port 0).
    let port: Int

    init(host: String, port: Int) throws(LinkError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let address = found else {
            throw LinkError("cannot listen on \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard fd >= 0 else { throw LinkError.system("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0, listen(fd, 64) == 0 else {
            let error = LinkError.system("cannot listen on \(host):\(port) for the pipeline's ranks")
            Glibc.close(fd)
            throw error
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let family = bound.ss_family
        let boundPort: UInt16 = withUnsafePointer(to: &bound) { pointer in
            family == sa_family_t(AF_INET6)
                ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
                : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        descriptor = fd
        self.port = Int(UInt16(bigEndian: boundPort))
    }

    /// The next connection, or nil when none arrives within `timeout` seconds.
    func accept(timeout: Double) throws(LinkError) -> LinkSocket? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeout * 1000))
        guard ready > 0 else {
            if ready < 0 && errno != EINTR { throw LinkError.system("poll") }
            return nil
        }
        let fd = Glibc.accept(descriptor, nil, nil)
        guard fd >= 0 else {
            if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { return nil }
            throw LinkError.system("accept")
        }
        return LinkSocket(descriptor: fd)
    }

    deinit { Glibc.close(descriptor) }
}
