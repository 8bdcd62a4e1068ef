#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a lock, with `Synchronization.Mutex`'s `withLock`, on a pthread mutex.
///
/// Why not `Mutex`: on Linux a contended `Mutex` is handed over through the kernel (a priority-inheritance futex),
/// which ThreadSanitizer cannot see, so every contended `Mutex` is reported as a data race and real races drown in
/// the noise (docs/RELIABILITY.md). A pthread mutex costs a few nanoseconds more, which does not matter at the rates
/// Brigade locks at (per loop step, per request, per span).
///
/// `@unchecked Sendable`: `value` is only touched inside `withLock`, holding `mutex`; values go in and out as
/// `sending`, as with `Mutex`.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: sending Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    public func withLock<Result, Failure: Error>(_ body: (inout sending Value) throws(Failure) -> sending Result) throws(Failure) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
