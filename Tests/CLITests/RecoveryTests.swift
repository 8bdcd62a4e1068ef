#if MPI
import Foundation
import Testing

/// The supervised server's guarantee with real `mpirun` jobs on SmolLM2: 16 concurrent streams (greedy and seeded,
/// driven by the official `openai` client, scripts/checks/recovery_streams.py) survive a rank that is killed, stopped,
/// killed during prefill or while idle, two failures in a row, and end with a 503 when the last slot dies. Every
/// surviving stream holds exactly the tokens, log-probs and text of a run with no fault.
@Suite(.serialized) struct RecoveryTests {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/checks").standardized.path
    static let streams = scripts + "/recovery_streams.py"

    /// A supervised `serve` on SmolLM2 with one stage per slot of `hosts`.
    static func server(hosts: String = "localhost:3", extra: [String] = []) throws -> ServerProcess {
        _ = try CLITests.which("mpirun")
        let server = try ServerProcess(["--transport", "mpi", "--hosts", hosts, "--max-num-batched-tokens", "256"] + extra,
                                       environment: MPITests.environment)
        try #require(server.waitUntilHealthy(seconds: 120), "the supervised server did not come up:\n\(server.log)")
        return server
    }

    /// The streams of a run with no fault (on a pipeline of 3 stages), computed once.
    static let reference: Result<String, any Error> = Result {
        let server = try Self.server()
        defer { server.kill() }
        let path = NSTemporaryDirectory() + "brigade-recovery-reference-\(UUID().uuidString).json"
        let run = try CLITests.run([streams, "run", server.base, path], executable: "python3")
        guard run.status == 0 else { throw RecoveryError("the reference run failed: \(run.stdout)\(run.stderr)\n\(server.log)") }
        return path
    }

    struct RecoveryError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs the 16 streams with `fault` fired after `after` tokens (0: while the prompts are prefilled) and checks
    /// them against the reference; returns the run's report line.
    @discardableResult
    static func streamsSurvive(_ server: ServerProcess, fault: String?, after: Int = 150) throws -> String {
        let reference = try Self.reference.get()
        let path = NSTemporaryDirectory() + "brigade-recovery-\(UUID().uuidString).json"
        let faultArguments = fault.map { ["--fault", $0, "--fault-after", "\(after)"] } ?? []
        let run = try CLITests.run([streams, "run", server.base, path] + faultArguments, executable: "python3")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let compare = try CLITests.run([streams, "compare", reference, path], executable: "python3")
        #expect(compare.status == 0 && compare.stdout.contains("lost 0, changed 0"),
                "the streams differ from the run with no fault:\n\(compare.stdout)\(compare.stderr)\nserver log:\n\(server.log)")
        return run.stdout
    }

    static func signal(_ server: ServerProcess, rank: Int, _ signal: String) -> String {
        "\(scripts)/signal-rank \(server.port) \(rank) \(signal)"
    }

    static func metric(_ name: String, _ server: ServerProcess) -> Double? {
        let text = (try? CLITests.run(["-s", server.base + "/metrics"], executable: "curl"))?.stdout ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix("brigade_\(name) ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    @Test func aKilledRankCostsAPauseAndNothingElse() throws {
        let server = try Self.server()
        defer { server.kill() }
        try Self.streamsSurvive(server, fault: Self.signal(server, rank: 1, "KILL"))
        #expect(server.log.contains("rank 1 on host localhost") && server.log.contains("the process died"), "\(server.log)")
        #expect(server.log.contains("serving on 2 stages"))
        #expect(Self.metric("pipeline_stages", server) == 2 && Self.metric("pipeline_restarts", server) == 1)
        #expect((Self.metric("requests_resumed", server) ?? 0) > 0)
        #expect(server.stop() == 0, "\(server.log)")
    }

    @Test func aStoppedRankIsTakenForHungAndReplaced() throws {
        let server = try Self.server()
        defer { server.kill() }
        try Self.streamsSurvive(server, fault: Self.signal(server, rank: 2, "STOP"))
        #expect(server.log.contains("rank 2 on host localhost") && server.log.contains("sent no heartbeat"), "\(server.log)")
        #expect(Self.metric("pipeline_stages", server) == 2)
        // No process of the stopped job is left behind.
        #expect((try? CLITests.run([Self.scripts + "/signal-rank", "\(server.port)", "2", "CONT"], executable: "bash"))?.status != 0)
    }

    @Test func aRankKilledDuringPrefillOrWhileIdle() throws {
        let server = try Self.server()
        defer { server.kill() }
        try Self.streamsSurvive(server, fault: Self.signal(server, rank: 0, "KILL"), after: 0)
        #expect(server.log.contains("rank 0 on host localhost"), "\(server.log)")
        // Idle: nothing runs when rank 1 of the 2-stage pipeline dies; the supervisor notices within 2 s.
        let killed = Date()
        _ = try CLITests.run([Self.scripts + "/signal-rank", "\(server.port)", "1", "KILL"], executable: "bash")
        while Self.metric("pipeline_failures", server) != 2 && Date().timeIntervalSince(killed) < 10 { Thread.sleep(forTimeInterval: 0.05) }
        #expect(Date().timeIntervalSince(killed) < 2, "the idle rank's death was noticed after \(Date().timeIntervalSince(killed)) s")
        try Self.streamsSurvive(server, fault: nil)
        #expect(Self.metric("pipeline_stages", server) == 1)
    }

    @Test func twoFailuresInARowThenTheLastSlotDies() throws {
        let server = try Self.server()
        defer { server.kill() }
        // 3 → 2 → 1 stages within one run of the streams.
        let second = "sleep 1.5; \(Self.signal(server, rank: 1, "KILL"))"
        try Self.streamsSurvive(server, fault: "\(Self.signal(server, rank: 1, "KILL")); (\(second)) &", after: 100)
        #expect(Self.metric("pipeline_failures", server) == 2 && Self.metric("pipeline_stages", server) == 1, "\(server.log)")
        // The last slot dies mid-run: no pipeline can be formed, the streams end with an error instead of hanging,
        // /health says why and new requests get 503.
        let path = NSTemporaryDirectory() + "brigade-recovery-last-\(UUID().uuidString).json"
        let run = try CLITests.run([Self.streams, "run", server.base, path, "--fault", Self.signal(server, rank: 0, "KILL"), "--fault-after", "50"],
                                   executable: "python3")
        #expect(run.status == 0 && run.stdout.contains("no host is left"), "\(run.stdout)\(run.stderr)")
        let health = try CLITests.run(["-s", "-w", "%{http_code}", server.base + "/health"], executable: "curl")
        #expect(health.stdout.hasPrefix("pipeline failed: no pipeline can be formed: no host is left") && health.stdout.hasSuffix("503"), "\(health.stdout)")
        let refused = try CLITests.run(["-s", "-w", "%{http_code}", server.base + "/v1/completions", "-H", "content-type: application/json",
                                        "-d", #"{"prompt": "hi", "max_tokens": 2}"#], executable: "curl")
        #expect(refused.stdout.hasSuffix("503") && refused.stdout.contains("no host is left"), "\(refused.stdout)")
        #expect(server.stop() == 0)
    }

    /// Real hosts: three network namespaces joined by a bridge (scripts/netns-hosts, needs root), one stage each,
    /// ranks started in them by mpirun's launch agent over the TCP BTL. The pipeline gives the streams of the
    /// in-process-host run; then bh2's cable is cut mid-run and the pipeline re-forms on bh1 and bh3.
    @Test func aHostCutOffMidRunOnRealSeparateHosts() throws {
        guard getuid() == 0 else {
            Issue.record("network namespaces need root (CI has it)")
            return
        }
        let netns = Self.scripts + "/../netns-hosts"
        let up = try CLITests.run([netns, "up", "3"], executable: "sh")
        try #require(up.status == 0, "\(up.stdout)\(up.stderr)")
        defer { _ = try? CLITests.run([netns, "down"], executable: "sh") }
        let arguments = try CLITests.run([netns, "mpirun-args"], executable: "sh").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try Self.server(hosts: "bh1,bh2,bh3", extra: ["--advertise-address", "10.231.0.1", "--mpirun-args=\(arguments)"])
        defer { server.kill() }
        try Self.streamsSurvive(server, fault: nil)
        try Self.streamsSurvive(server, fault: "\(netns) isolate bh2")
        #expect(server.log.contains("rank 1 on host bh2") && server.log.contains("sent no heartbeat"), "\(server.log)")
        #expect(server.log.contains("serving on 2 stages (bh1, bh3)"), "\(server.log)")
        #expect(server.stop() == 0)
        // No rank is left in any namespace (the cut-off host's mpirun daemon lingers until its TCP keepalive, as it
        // would on a real cluster; `netns-hosts down` clears it).
        let left = try CLITests.run(["-c", "for h in bh1 bh2 bh3; do for p in $(ip netns pids $h); do tr '\\0' ' ' < /proc/$p/cmdline; echo; done; done"],
                                    executable: "sh")
        #expect(!left.stdout.contains("--supervisor-link"), "ranks left in the namespaces: \(left.stdout)")
    }
}
#endif
