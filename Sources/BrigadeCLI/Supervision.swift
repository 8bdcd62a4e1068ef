import ArgumentParser
import Engine
import Foundation
import Logging
import Kernels
import Supervisor
#if MPI
import Transport
#endif

/// How `serve` supervises its pipeline: the hosts of an MPI pipeline it launches itself, and how it watches them.
struct SupervisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("With --transport mpi: the hosts of the pipeline's stages, rank 0 first: a comma-separated list (host:N for N slots) or an Open MPI hostfile (host slots=N). The server launches and relaunches the mpirun job itself; a stage whose rank dies is left out and the pipeline re-forms on the rest. Default: --pp slots on this host.", valueName: "h1,h2,…|file"))
    var hosts: String?
    @Option(help: "The address the pipeline's ranks reach this server at (default: 127.0.0.1 for local hosts, else this machine's address on the route to the first remote host).")
    var advertiseAddress: String?
    @Option(help: "A rank that sends no heartbeat for this long is taken for hung or cut off, and its pipeline is replaced.")
    var heartbeatTimeoutSeconds = 1.5
    @Option(help: "Launch attempts per recovery before waiting requests get 503.") var restartAttempts = 4
    @Option(help: "The mpirun to launch the pipeline with.") var mpirun = "mpirun"
    @Option(help: ArgumentHelp("Extra mpirun arguments, space-separated (default: $BRIGADE_MPIRUN_ARGS), e.g. --mpirun-args=\"--mca btl tcp,self\" (with =: the value starts with a dash).", valueName: "args"))
    var mpirunArgs: String?
    @Option(help: .hidden) var supervisorLink: String?

    func validate() throws {
        guard heartbeatTimeoutSeconds >= 0.2, heartbeatTimeoutSeconds.isFinite else {
            throw ValidationError("--heartbeat-timeout-seconds must be at least 0.2, got \(heartbeatTimeoutSeconds)")
        }
        guard restartAttempts >= 1 else { throw ValidationError("--restart-attempts must be at least 1") }
    }

    /// One entry per stage slot, rank 0 first.
    func slots(pp: Int) throws -> [String] {
        guard let hosts else { return Array(repeating: "localhost", count: pp) }
        let entries: [String]
        if FileManager.default.fileExists(atPath: hosts) {
            let text = try String(contentsOfFile: hosts, encoding: .utf8)
            entries = text.split(whereSeparator: \.isNewline).compactMap { line in
                let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                let words = content.split(separator: " ").map(String.init)
                guard let host = words.first else { return nil }
                let slots = words.dropFirst().first { $0.hasPrefix("slots=") }.map { String($0.dropFirst(6)) } ?? "1"
                return "\(host):\(slots)"
            }
        } else {
            entries = hosts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var slots: [String] = []
        for entry in entries where !entry.isEmpty {
            let parts = entry.split(separator: ":")
            guard parts.count <= 2, let host = parts.first, let count = parts.count == 2 ? Int(parts[1]) : 1, count >= 1 else {
                throw CLIError("--hosts entry \"\(entry)\" is not host or host:N (N slots)")
            }
            slots += Array(repeating: String(host), count: count)
        }
        guard !slots.isEmpty else { throw CLIError("--hosts \(hosts) names no host") }
        guard pp == 1 || pp == slots.count else {
            throw CLIError("--hosts gives \(slots.count) slots but --pp is \(pp); drop --pp (one stage per slot) or list \(pp) slots")
        }
        return slots
    }

    /// Where ranks on `hosts` can reach this machine.
    func advertiseHost(for hosts: [String]) -> String {
        if let advertiseAddress { return advertiseAddress }
        let local: Set<String> = ["localhost", "127.0.0.1", "::1", ProcessInfo.processInfo.hostName]
        guard let remote = hosts.first(where: { !local.contains($0) }) else { return "127.0.0.1" }
        return Self.sourceAddress(towards: remote) ?? "127.0.0.1"
    }

    /// This machine's address on the route to `host` (a UDP socket "connected" there sends nothing).
    static func sourceAddress(towards host: String) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, "9", &hints, &found) == 0, let address = found else { return nil }
        defer { freeaddrinfo(found) }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else { return nil }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard status == 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        var bytes = local.sin_addr
        guard inet_ntop(AF_INET, &bytes, &text, socklen_t(text.count)) != nil else { return nil }
        return String(cString: text)
    }

    var policy: Supervisor.Policy {
        var policy = Supervisor.Policy()
        policy.maxAttempts = restartAttempts
        return policy
    }

    var extraMPIArguments: [String] {
        (mpirunArgs ?? ProcessInfo.processInfo.environment["BRIGADE_MPIRUN_ARGS"] ?? "").split(separator: " ").map(String.init)
    }
}

extension Serve {
    /// The launcher and the slots of the pipeline this server supervises: MPI jobs it starts itself
    /// (`--transport mpi`, not under mpirun), else threads of this process.
    func launcher(for loaded: LoadedModel) throws -> (any PipelineLauncher, [String]) {
        let engine = self.engine
        guard engine.usesMPI else {
            let pipeline = loaded.pipeline
            let launcher = InProcessLauncher { stages in
                var options = try engine.options
                options.pipelineStages = stages
                guard let running = try engine.startEngine(pipeline, options: options) else { throw CLIError("no engine for rank 0") }
                return running
            }
            return (launcher, Array(repeating: "localhost", count: engine.pp))
        }
        let slots = try supervision.slots(pp: engine.pp)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let base = Self.jobArguments(Array(CommandLine.arguments.dropFirst()))
        let partition = engine.ppPartition, firstStages = slots.count
        let trace = engine.trace
        let generations = Locked(0)
        var configuration = MPIJobLauncher.Configuration(executable: executable) { stages, link in
            var arguments = base + ["--pp", "\(stages)", "--transport", "mpi", "--supervisor-link", link.description]
            if let trace {
                // Each pipeline's ranks write timelines of their own, beside the supervisor's (FILE).
                let generation = generations.withLock { count in count += 1; return count }
                arguments += ["--trace", EngineOptionGroup.tracePath(trace, variant: "pipeline\(generation)")]
            }
            // An explicit split fits only the pipeline it was written for; a smaller one is balanced anew.
            if let partition, stages == firstStages || partition.lowercased() == "auto" { arguments += ["--pp-partition", partition] }
            return arguments
        }
        configuration.mpirun = supervision.mpirun
        configuration.mpirunArguments = supervision.extraMPIArguments
        configuration.advertiseHost = supervision.advertiseHost(for: slots)
        configuration.heartbeatTimeoutSeconds = supervision.heartbeatTimeoutSeconds
        do {
            return (try MPIJobLauncher(configuration), slots)
        } catch {
            throw CLIError("\(error); pass --advertise-address with an address of this machine the hosts can reach")
        }
    }

    /// This command's arguments without the ones the supervisor sets for each job.
    static func jobArguments(_ arguments: [String]) -> [String] {
        let replaced: Set<String> = ["--pp", "--pp-partition", "--transport", "--hosts", "--supervisor-link", "--trace"]
        var kept: [String] = []
        var skipNext = false
        for argument in arguments {
            if skipNext { skipNext = false; continue }
            let name = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
            if replaced.contains(name) {
                skipNext = !argument.contains("=")
                continue
            }
            kept.append(argument)
        }
        return kept
    }

    /// A rank of a job this program's supervising server launched: it joins the supervisor, loads its stage and
    /// runs; rank 0 takes its requests from the supervisor instead of serving HTTP.
    func runSupervisedRank(link: String) throws {
        #if MPI
        guard MPIRuntime.launchedByMPI else {
            throw CLIError("--supervisor-link is for the ranks of the mpirun job a supervising `brigade serve` starts")
        }
        let address = try LinkAddress(parsing: link)
        let world = try MPIRuntime.world()
        // The supervisor decides when this job ends; signals from a terminal are its to act on.
        let ignored = SignalHandler([SIGINT, SIGTERM]) { _ in }
        defer { withExtendedLifetime(ignored) {} }
        let rankLink = try RankLink(address, rank: world.rank, size: world.size)
        do {
            guard world.rank == 0 else {
                _ = try Session(model: model, engine: engine, handlesSIGTERM: false)
                rankLink.leave(reason: "")
                return
            }
            let loaded = try engine.loadOnEveryRank { try model.loadModel() }
            guard let running = try engine.startEngine(loaded.pipeline, options: try engine.options) else { throw CLIError("rank 0 got no engine") }
            let failure = rankLink.serve(running)
            running.shutdown(drain: false)
            engine.saveTrace(running.options.trace)
            rankLink.leave(reason: failure ?? "")
            if let failure { throw CLIError(failure) }
            engine.finishTransport()
        } catch {
            rankLink.leave(reason: "\(error)")
            throw error
        }
        #else
        throw CLIError("this brigade was built without MPI; build it with `swift build -c release --traits MPI`")
        #endif
    }
}

extension EngineOptionGroup {
    /// Writes the supervisor's timeline to `--trace`.
    func saveTimeline(_ timeline: SupervisorTimeline) {
        guard let path = trace else { return }
        do {
            try timeline.chromeTraceJSON().write(to: URL(fileURLWithPath: path))
            FileHandle.standardError.write(Data("trace: the supervisor's timeline (pipelines, failures, recoveries) written to \(path)\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("error: cannot write the trace to \(path): \(error.localizedDescription)\n".utf8))
        }
    }

    /// `base` with `-variant` before its extension.
    static func tracePath(_ base: String, variant: String) -> String {
        let url = URL(fileURLWithPath: base)
        let suffix = url.pathExtension.isEmpty ? "json" : url.pathExtension
        return url.deletingPathExtension().path + "-\(variant)." + suffix
    }
}

/// Writes the supervisor's log lines to standard error.
func supervisorLogger() -> Logger {
    var logger = Logger(label: "brigade.supervisor")
    logger.logLevel = .info
    return logger
}
