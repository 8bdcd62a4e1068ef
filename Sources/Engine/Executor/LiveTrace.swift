import Foundation
import Kernels
import Synchronization

/// The last seconds of the pipeline's spans (the activities `--trace` records), for a live view such as the server's
/// `/pipeline` page. It records only while someone watches: with no watcher, a rank's cost is one relaxed atomic load
/// per span. Every rank of this process records into `shared`; ranks in other processes (under `mpirun`) do not.
public final class LiveTrace: Sendable {
    /// One finished span.
    public struct Span: Sendable, Equatable {
        public var activity: PipelineTrace.Activity
        public var rank: Int
        public var onRelay: Bool
        /// Nanoseconds of the monotonic clock (`DispatchTime.now().uptimeNanoseconds`).
        public var start: UInt64
        public var end: UInt64
        public var category: String { activity.category }
    }

    /// The process's trace.
    public static let shared = LiveTrace()

    /// Spans kept (the oldest are overwritten): enough for several seconds of a busy pipeline.
    public let capacity: Int
    private let watchers = Atomic<Int>(0)
    private let ring: Locked<(spans: [Span], next: Int, total: Int)>

    public init(capacity: Int = 16_384) {
        self.capacity = max(1, capacity)
        ring = Locked(([], 0, 0))
    }

    /// Whether spans are being recorded.
    public var isRecording: Bool { watchers.load(ordering: .relaxed) > 0 }

    /// Starts recording for one more watcher; call `stopWatching()` when it leaves.
    public func startWatching() { watchers.add(1, ordering: .relaxed) }

    public func stopWatching() {
        if watchers.subtract(1, ordering: .relaxed).newValue == 0 {
            ring.withLock { $0 = ([], 0, $0.total) }
        }
    }

    func record(_ activity: PipelineTrace.Activity, rank: Int, onRelay: Bool = false, from start: UInt64, to end: UInt64) {
        guard isRecording else { return }
        let span = Span(activity: activity, rank: rank, onRelay: onRelay, start: start, end: end)
        ring.withLock { ring in
            if ring.spans.count < capacity {
                ring.spans.append(span)
            } else {
                ring.spans[ring.next] = span
            }
            ring.next = (ring.next + 1) % capacity
            ring.total += 1
        }
    }

    /// The spans that ended after `time` (nanoseconds of the monotonic clock), oldest first.
    public func spans(endingAfter time: UInt64) -> [Span] {
        let (spans, next) = ring.withLock { ($0.spans, $0.next) }
        let ordered = spans.count < capacity ? spans : Array(spans[next...] + spans[..<next])
        return ordered.filter { $0.end > time }.sorted { $0.start < $1.start }
    }

    /// Spans recorded since the process started (watched or not: those while nobody watched are not counted).
    public var recordedCount: Int { ring.withLock { $0.total } }
}
