import Engine
import Foundation

extension Communicator {
    /// Measures the one-way latency of a small message between rank 0 and every other rank, through this
    /// communicator's own send and receive (so a receive's polling policy is included). Every rank must call it;
    /// rank 0 returns, per rank 1..<size, the median of `rounds` round trips halved, in seconds; other ranks return [].
    public func measureHopLatency(rounds: Int = 64) throws(TransportError) -> [Double] {
        let ping: [UInt8] = Array(repeating: 0, count: 8)
        guard rank == 0 else {
            for _ in 0..<rounds {
                let message = try receive(from: 0, tag: .latencyProbe, timeout: 60)
                try send(message, to: 0, tag: .latencyProbe).wait()
            }
            return []
        }
        var latencies: [Double] = []
        for peer in 1..<size {
            var trips: [Double] = []
            for _ in 0..<rounds {
                let start = DispatchTime.now().uptimeNanoseconds
                try send(ping, to: peer, tag: .latencyProbe).wait()
                _ = try receive(from: peer, tag: .latencyProbe, timeout: 60)
                trips.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            latencies.append(trips.sorted()[trips.count / 2] / 2)
        }
        return latencies
    }
}
