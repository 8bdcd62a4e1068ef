import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads the kernels may use. Set once at start-up (CLI `--threads`) before any kernel runs.
public enum KernelThreads {
    /// The number of threads `parallelChunks` uses on this thread, the caller included (>= 1).
    public static var count: Int { WorkerPool.current.threadCount }

    /// Replaces the shared pool with one of `count` threads (the caller included).
    public static func configure(_ count: Int) { WorkerPool.configureShared(threads: count) }

    /// The machine's online core count.
    public static let cores: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Splits `total` threads between `ranks` pipeline ranks of one process, so their pools add up to `total`
    /// threads: `total / ranks` each, the remainder to the first ranks; but at least one each (a rank's own thread
    /// always runs its kernels), so with more ranks than threads every rank runs single-threaded.
    public static func split(_ total: Int, ranks: Int) -> [Int] {
        (0..<ranks).map { rank in max(1, total / ranks + (rank < total % ranks ? 1 : 0)) }
    }
}

/// Runs `body(range)` over `count` items split into contiguous ranges, in parallel on the calling thread's pool
/// (`WorkerPool.current`: its pipeline rank's, else the process pool).
///
/// Each range is computed by exactly one thread and no reduction crosses ranges, so results never depend on the thread
/// count. Small jobs (fewer than `minimumPerChunk` items per thread) and calls made while the pool is busy with another
/// caller's job (another pipeline rank in the same process) run on the calling thread.
@inline(__always)
public func parallelChunks(_ count: Int, minimumPerChunk: Int = 16, _ body: (Range<Int>) -> Void) {
    let pool = WorkerPool.current
    let chunks = min(pool.threadCount, max(1, count / max(1, minimumPerChunk)))
    if chunks <= 1 {
        body(0..<count)
        return
    }
    if !pool.run(chunks: chunks, { chunk in body(count * chunk / chunks ..< count * (chunk + 1) / chunks) }) {
        body(0..<count)
    }
}

/// A persistent pool of worker threads for data-parallel kernels (no thread is created per call).
///
/// Idle workers spin briefly (a forward pass issues kernels back to back, and waking a blocked thread costs ~50 µs in
/// these VMs), then block on a condition variable, so an idle pool uses no CPU.
///
/// `@unchecked Sendable`: the mutable job state is guarded by `mutex` or published through the `generation` atomic
/// (release/acquire); the job closure is only called between `run` publishing it and `run` observing that every chunk
/// finished, so it never outlives the `run` call that owns it.
public final class WorkerPool: @unchecked Sendable {
    private static let sharedPool = Locked(WorkerPool(threads: KernelThreads.cores))

    /// The process-wide pool (`--threads`), used by threads that have no pool of their own.
    public static var shared: WorkerPool { sharedPool.withLock { $0 } }

    /// The pool the kernels use on the calling thread: the one set by `withCurrent`, else `shared`.
    public static var current: WorkerPool {
        guard let pointer = pthread_getspecific(currentPoolKey) else { return shared }
        return Unmanaged<WorkerPool>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Runs `body` with `pool` as the calling thread's pool (each pipeline rank of a process gets its own, with its
    /// share of the threads).
    public static func withCurrent<R>(_ pool: WorkerPool, _ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(currentPoolKey)
        pthread_setspecific(currentPoolKey, Unmanaged.passUnretained(pool).toOpaque())
        defer { pthread_setspecific(currentPoolKey, previous) }
        return try withExtendedLifetime(pool) { try body() }
    }

    static func configureShared(threads: Int) {
        sharedPool.withLock { pool in
            if pool.threadCount != max(1, threads) { pool = WorkerPool(threads: threads) }
        }
    }

    /// Threads that run chunks, the calling thread included.
    public let threadCount: Int

    private typealias Job = (Int) -> Void
    /// Points at the running job's closure (on `run`'s stack) while a job is published; nil otherwise.
    private var job: UnsafePointer<Job>?
    private var chunkCount = 0
    private let generation = Atomic<Int>(0)
    private let nextChunk = Atomic<Int>(0)
    private let finishedChunks = Atomic<Int>(0)
    /// Workers that took the current job and have not yet stopped claiming chunks of it.
    private let activeWorkers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var threads: [pthread_t] = []

    public init(threads: Int) {
        threadCount = max(1, threads)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for _ in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(pool: self)).toOpaque()
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.workerLoop()
                return nil
            }, context)
            self.threads.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `job(0..<chunks)` on the pool; returns false (without running anything) if another caller holds the pool.
    /// Returns only after every chunk ran and no worker can touch `job` any more.
    func run(chunks: Int, _ job: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(job) { job in
            var closure: Job = job
            withUnsafePointer(to: &closure) { pointer in
                pthread_mutex_lock(&mutex)
                self.job = pointer
                chunkCount = chunks
                nextChunk.store(0, ordering: .relaxed)
                finishedChunks.store(0, ordering: .relaxed)
                generation.add(1, ordering: .releasing)
                pthread_cond_broadcast(&wake)
                pthread_mutex_unlock(&mutex)
                work(pointer, chunks: chunks)
                var spins = 0
                while finishedChunks.load(ordering: .acquiring) < chunks {
                    spins += 1
                    if spins > 1000 { sched_yield() }
                }
                pthread_mutex_lock(&mutex)
                self.job = nil
                pthread_mutex_unlock(&mutex)
                while activeWorkers.load(ordering: .acquiring) > 0 { sched_yield() }
            }
        }
        return true
    }

    private func work(_ job: UnsafePointer<Job>, chunks: Int) {
        while true {
            let chunk = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
            guard chunk < chunks else { return }
            job.pointee(chunk)
            finishedChunks.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        // A kernel that calls parallelChunks from a worker finds its own pool busy and runs inline: it never reaches
        // for the process pool's threads.
        pthread_setspecific(currentPoolKey, Unmanaged.passUnretained(self).toOpaque())
        var seen = 0
        while true {
            // Spin for a short while for the next job, then block.
            var spins = 0
            while generation.load(ordering: .acquiring) == seen && spins < 20_000 { spins += 1 }
            pthread_mutex_lock(&mutex)
            while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .acquiring) {
                pthread_cond_wait(&wake, &mutex)
            }
            seen = generation.load(ordering: .acquiring)
            let job = self.job, chunks = chunkCount
            if job != nil { activeWorkers.add(1, ordering: .relaxed) }
            pthread_mutex_unlock(&mutex)
            if stopping.load(ordering: .acquiring) { return }
            if let job {
                work(job, chunks: chunks)
                activeWorkers.subtract(1, ordering: .releasing)
            }
        }
    }
}

/// The thread-local slot behind `WorkerPool.current`.
private let currentPoolKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

private final class WorkerContext {
    /// `unowned(unsafe)`: the pool's `deinit` joins every worker before its memory goes away, so the pool outlives
    /// every access a worker makes (a checked `unowned` would trap while `deinit` is waiting for the join).
    unowned(unsafe) let pool: WorkerPool
    init(pool: WorkerPool) { self.pool = pool }
}
