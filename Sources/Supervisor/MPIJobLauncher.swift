import Engine
import Foundation
import Kernels

/// Starts each pipeline as an `mpirun` job of this program: one rank per host slot, every rank linked back to the
/// supervisor (`--supervisor-link`), rank 0 taking the supervisor's requests over its link.
///
/// Open MPI 4.1 has no fault tolerance: a rank that dies ends its job. What must survive (the requests) lives in
/// the supervisor, outside the job; the job is replaced.
public final class MPIJobLauncher: PipelineLauncher {
    public struct Configuration: Sendable {
        /// The `mpirun` to run.
        public var mpirun = "mpirun"
        /// Arguments for `mpirun` before the program (`--mca …`, a launch agent).
        public var mpirunArguments: [String] = []
        /// Variables added to the job's environment.
        public var environment: [String: String] = [:]
        /// The program every rank runs (this one).
        public var executable: String
        /// The program's arguments for a pipeline of `stages` stages whose ranks join the supervisor at `link`.
        public var arguments: @Sendable (_ stages: Int, _ link: LinkAddress) -> [String]
        /// The address the ranks reach this process at, and the one it listens on.
        public var advertiseHost = "127.0.0.1"
        public var listenHost: String?
        /// How long a job may take to load the model and take requests.
        public var startTimeoutSeconds = 300.0
        /// How often the supervisor and each rank tell each other they are alive.
        public var heartbeatSeconds = 0.25
        /// A rank silent this long is taken for dead (hung, stopped, or cut off); a slow stage still beats.
        public var heartbeatTimeoutSeconds = 1.5
        /// Where the job's own output (mpirun's and the ranks' standard error) goes, a line at a time.
        public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

        public init(executable: String, arguments: @escaping @Sendable (_ stages: Int, _ link: LinkAddress) -> [String]) {
            self.executable = executable
            self.arguments = arguments
        }
    }

    let configuration: Configuration
    private let hub: LinkHub
    private let launches = Locked(0)

    public init(_ configuration: Configuration) throws(LinkError) {
        self.configuration = configuration
        hub = try LinkHub(listenHost: configuration.listenHost ?? configuration.advertiseHost, advertiseHost: configuration.advertiseHost)
    }

    deinit { hub.stop() }

    public func launch(on hosts: [String]) async throws(LaunchError) -> any PipelineInstance {
        let number = launches.withLock { count in
            count += 1
            return count
        }
        let job = MPIJob(hosts: hosts, number: number, configuration: configuration)
        let token = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()
        let address = hub.register(token: token) { socket, hello in job.join(socket, hello) }
        defer { hub.forget(token: token) }
        let result = await withCheckedContinuation { (done: CheckedContinuation<Result<MPIJob, LaunchError>, Never>) in
            Thread { done.resume(returning: Result { () throws(LaunchError) in try job.start(link: address); return job }) }.start()
        }
        return try result.get()
    }

    /// Runs `true` on `host` through mpirun (its launch agent, its daemon): whether that works within 10 s.
    public func probe(host: String) async -> Bool {
        let configuration = self.configuration
        return await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            Thread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: MPIJob.which(configuration.mpirun))
                process.arguments = ["-n", "1", "--host", host] + configuration.mpirunArguments + ["true"]
                process.environment = ProcessInfo.processInfo.environment.merging(configuration.environment) { $1 }
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                guard (try? process.run()) != nil else { return done.resume(returning: false) }
                let deadline = Date(timeIntervalSinceNow: 10)
                while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    return done.resume(returning: false)
                }
                done.resume(returning: process.terminationStatus == 0)
            }.start()
        }
    }
}
