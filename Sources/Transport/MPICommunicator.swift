#if MPI
import Kernels
import CMPI
import Engine
import Foundation

/// The process's MPI library: initialised once with `MPI_THREAD_MULTIPLE` (the relay thread and the loop thread
/// both call MPI), finalised once at exit.
public enum MPIRuntime {
    private static let state = Locked<(initialized: Bool, finalized: Bool)>((false, false))

    /// Whether this process was started by an MPI launcher (`mpirun`), judging by its environment.
    public static var launchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMI_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Initialises MPI (once) and returns this process's communicator over `MPI_COMM_WORLD`.
    public static func world() throws(TransportError) -> MPICommunicator {
        let failure: String? = state.withLock { state in
            guard !state.initialized else { return nil }
            var provided: Int32 = 0
            guard MPI_Init_thread(nil, nil, Int32(cmpi_thread_multiple()), &provided) == MPI_SUCCESS else {
                return "MPI_Init_thread failed"
            }
            state.initialized = true
            guard provided >= Int32(cmpi_thread_multiple()) else {
                return "this MPI library provides thread level \(provided), but Brigade needs MPI_THREAD_MULTIPLE "
                    + "(\(cmpi_thread_multiple())): its relay thread and loop thread both call MPI. Use an MPI built "
                    + "with thread support (Open MPI 4 from Debian has it)"
            }
            _ = cmpi_errors_return_set(cmpi_comm_world())
            return nil
        }
        if let failure { throw .failed(failure) }
        return try MPICommunicator(communicator: .world)
    }

    /// Finalises MPI (once); call after every engine and worker has stopped.
    public static func finalize() {
        state.withLock { state in
            guard state.initialized, !state.finalized else { return }
            state.finalized = true
            MPI_Finalize()
        }
    }

    /// Ends every process of the job (after printing why): used when this rank cannot go on.
    public static func abort(code: Int32) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }
}

/// An MPI communicator handle. `@unchecked Sendable`: an `MPI_Comm` is an immutable handle that MPI lets any thread
/// use once the library runs at `MPI_THREAD_MULTIPLE` (checked in `MPIRuntime.world`).
/// The stored type is inferred from the shim, so the source compiles against Open MPI (pointer handles) and MPICH
/// (integer handles) alike.
struct CommunicatorHandle: @unchecked Sendable {
    var value = cmpi_comm_null()

    static var world: CommunicatorHandle {
        var handle = CommunicatorHandle()
        handle.value = cmpi_comm_world()
        return handle
    }
}

/// Ranks as MPI processes. Sends copy the payload into a buffer the send owns until MPI completes it; receives poll
/// `MPI_Iprobe` with a backoff that grows with the time already waited (spinning for the first 64 probes, then
/// sleeping 1/32 of the time waited, at most 5 ms), so a waiting rank neither burns a core nor adds more than ~3 %
/// to the wait it is in.
public struct MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    let communicator: CommunicatorHandle
    /// When the current wait for each (source, tag) began: a receive that times out and is called again (the
    /// executor polls its lifeline every 0.1 s) keeps backing off instead of starting to spin again.
    private let waitingSince = WaitClock()

    init(communicator: CommunicatorHandle) throws(TransportError) {
        var rank: Int32 = 0, size: Int32 = 0
        try check(MPI_Comm_rank(communicator.value, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(communicator.value, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
        self.communicator = communicator
    }

    public func send(_ payload: [UInt8], to destination: Int, tag: MessageTag) throws(TransportError) -> any SendRequest {
        try checkPeer(destination)
        guard payload.count <= Int(Int32.max) else { throw .failed("a \(payload.count)-byte message exceeds MPI's 2 GiB count") }
        let send = MPISend(payload)
        try send.start(to: Int32(destination), tag: tag.rawValue, communicator: communicator)
        return send
    }

    public func receive(from source: Int, tag: MessageTag, timeout: Double?) throws(TransportError) -> [UInt8] {
        try checkPeer(source)
        let key = WaitClock.Key(source: source, tag: tag)
        let call = DispatchTime.now().uptimeNanoseconds
        let start = waitingSince.start(key, now: call)
        var probes = start == call ? 0 : 64
        while true {
            var found: Int32 = 0
            var status = MPI_Status()
            try check(MPI_Iprobe(Int32(source), tag.rawValue, communicator.value, &found, &status), "MPI_Iprobe")
            if found != 0 {
                var count: Int32 = 0
                try check(MPI_Get_count(&status, cmpi_byte(), &count), "MPI_Get_count")
                var bytes = [UInt8](repeating: 0, count: Int(count))
                let code = bytes.withUnsafeMutableBytes { buffer in
                    MPI_Recv(buffer.baseAddress, count, cmpi_byte(), Int32(source), tag.rawValue, communicator.value,
                             cmpi_status_ignore())
                }
                try check(code, "MPI_Recv from rank \(source)")
                waitingSince.end(key)
                return bytes
            }
            let now = DispatchTime.now().uptimeNanoseconds
            let waited = now - start
            if let timeout, Double(now - call) / 1e9 >= timeout { throw .timedOut(rank: source, tag: tag, seconds: timeout) }
            probes += 1
            Self.backOff(probes: probes, waitedNanoseconds: waited)
        }
    }

    public func probe(from source: Int, tag: MessageTag) throws(TransportError) -> Bool {
        try checkPeer(source)
        var found: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Iprobe(Int32(source), tag.rawValue, communicator.value, &found, &status), "MPI_Iprobe")
        return found != 0
    }

    /// `MPI_Comm_dup`: collective, so every rank calls it in the same order, on its main thread, before any thread
    /// uses either channel. The duplicate is never freed (peers may still send on it until the job ends).
    public func duplicate() throws(TransportError) -> any Communicator {
        var copy = CommunicatorHandle()
        try check(MPI_Comm_dup(communicator.value, &copy.value), "MPI_Comm_dup")
        _ = cmpi_errors_return_set(copy.value)
        return try MPICommunicator(communicator: copy)
    }

    func checkPeer(_ peer: Int) throws(TransportError) {
        guard (0..<size).contains(peer) else { throw .invalidRank(peer, size: size) }
    }

    /// Spin (yielding) for the first probes, then sleep in proportion to the time already waited.
    static func backOff(probes: Int, waitedNanoseconds: UInt64) {
        if probes < 64 {
            sched_yield()
            return
        }
        let nanoseconds = min(5_000_000, max(20_000, waitedNanoseconds / 128))
        var request = timespec(tv_sec: 0, tv_nsec: Int(nanoseconds))
        nanosleep(&request, nil)
    }
}

/// The start of each (source, tag) wait in progress. `@unchecked Sendable`: `starts` is only touched under `lock`.
final class WaitClock: @unchecked Sendable {
    struct Key: Hashable {
        let source: Int
        let tag: MessageTag
    }

    private let lock = NSLock()
    private var starts: [Key: UInt64] = [:]

    /// When the wait for `key` began (`now` if no wait is in progress).
    func start(_ key: Key, now: UInt64) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        if let start = starts[key] { return start }
        starts[key] = now
        return now
    }

    func end(_ key: Key) {
        lock.lock()
        starts[key] = nil
        lock.unlock()
    }
}

/// One non-blocking send and the buffer it owns until MPI reports it complete.
/// `@unchecked Sendable`: `request` and `buffer` are only touched with `lock` held.
final class MPISend: SendRequest, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer: UnsafeMutableRawBufferPointer
    private var request = cmpi_request_null()
    private var done = false
    private let count: Int32

    init(_ payload: [UInt8]) {
        let owned = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, payload.count), alignment: 16)
        payload.withUnsafeBytes { owned.copyMemory(from: $0) }
        buffer = owned
        count = Int32(payload.count)
    }

    func start(to destination: Int32, tag: Int32, communicator: CommunicatorHandle) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        try check(MPI_Isend(buffer.baseAddress, count, cmpi_byte(), destination, tag, communicator.value, &request),
                  "MPI_Isend to rank \(destination)")
    }

    func test() throws(TransportError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !done else { return true }
        var flag: Int32 = 0
        try check(MPI_Test(&request, &flag, cmpi_status_ignore()), "MPI_Test")
        if flag != 0 {
            done = true
            buffer.deallocate()
        }
        return done
    }

    func wait() throws(TransportError) {
        let start = DispatchTime.now().uptimeNanoseconds
        var probes = 0
        while try !test() {
            probes += 1
            MPICommunicator.backOff(probes: probes, waitedNanoseconds: DispatchTime.now().uptimeNanoseconds - start)
        }
    }

    // No deinit: a send dropped before completion leaks its buffer on purpose, since MPI may still read it. The
    // executor never drops one (it waits every slot before reuse and at shutdown).
}

func check(_ code: Int32, _ call: @autoclosure () -> String) throws(TransportError) {
    guard code != MPI_SUCCESS else { return }
    var length: Int32 = 0
    var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING))
    MPI_Error_string(code, &text, &length)
    let reason = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw .failed("\(call()) failed: \(reason) (MPI error \(code))")
}
#endif
