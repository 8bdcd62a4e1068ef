#if MPI
import Foundation
import Testing

/// Real `mpirun` jobs of the `brigade` binary (built with `--traits MPI`): the same answers as in-process ranks,
/// checks across processes, and faults.
@Suite(.serialized) struct MPITests {
    static let environment = [
        "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "OMPI_MCA_btl_vader_single_copy_mechanism": "none",  // CMA is slow in these VMs (shared/notes)
        "OMPI_MCA_rmaps_base_oversubscribe": "1",
    ]

    static func mpirun(_ ranks: Int, _ arguments: [String], extra: [String] = []) throws -> CLITests.Run {
        try CLITests.run(["-n", "\(ranks)"] + extra + [CLITests.binary] + arguments, environment: environment, executable: "mpirun")
    }

    /// 18 requests: chat and raw prompts, short and long (the long ones' activations exceed MPI's eager limit).
    static let requests: String = (0..<18).map { i in
        let long = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 1 + (i % 4) * 6)
        return i % 3 == 0
            ? #"{"messages": [{"role": "user", "content": "Question \#(i): \#(long)"}], "max_tokens": \#(4 + i % 5)}"#
            : #"{"prompt": "\#(i): \#(long)", "max_tokens": \#(3 + i % 6)\#(i % 4 == 1 ? #", "logprobs": 2"# : "")}"#
    }.joined(separator: "\n")

    @Test(arguments: [(3, false), (2, false), (4, false), (3, true)])
    func mpiRanksGiveTheInProcessAnswer(stages: Int, sync: Bool) throws {
        let file = try CLITests.temporaryFile(Self.requests)
        var arguments = ["generate", "--requests", file, "--json", "--temperature", "0", "--pp", "\(stages)",
                         "--max-num-batched-tokens", "256"]
        if sync { arguments.append("--pp-sync") }
        let local = try CLITests.run(arguments + ["--transport", "inprocess"])
        #expect(local.status == 0, "\(local.stderr)")
        let mpi = try Self.mpirun(stages, arguments + ["--transport", "mpi"])
        #expect(mpi.status == 0, "\(mpi.stderr)")
        #expect(mpi.stdout == local.stdout)
        #expect(mpi.stdout.split(separator: "\n").count == 18)
    }

    /// 24 chats sharing a long system message, admitted a few per iteration by the token budget: all but the first
    /// reuse its KV blocks, on every rank, and not one token changes. Rank 0 alone decides: ranks started with
    /// --no-prefix-caching still follow its hits.
    @Test func thePrefixCacheIsTheSameOnEveryRankAndChangesNoToken() throws {
        let preamble = String(repeating: "You are a careful assistant who answers in one short sentence. ", count: 8)
        let file = try CLITests.temporaryFile((0..<24).map { i in
            #"{"messages": [{"role": "system", "content": "\#(preamble)"}, {"role": "user", "content": "Question \#(i)?"}], "max_tokens": \#(3 + i % 4)}"#
        }.joined(separator: "\n"))
        let arguments = ["generate", "--requests", file, "--json", "--temperature", "0", "--pp", "3", "--max-num-batched-tokens", "128",
                         "--stats"]
        func cachedTokens(_ run: CLITests.Run) -> Int {
            guard let match = run.stderr.firstMatch(of: /\((\d+) from the prefix cache\)/) else { return -1 }
            return Int(match.1) ?? -1
        }
        let reference = try CLITests.run(arguments + ["--transport", "inprocess", "--no-prefix-caching"])
        #expect(reference.status == 0 && cachedTokens(reference) == 0, "\(reference.stderr)")
        let mpi = try Self.mpirun(3, arguments + ["--transport", "mpi"])
        #expect(mpi.status == 0, "\(mpi.stderr)")
        #expect(mpi.stdout == reference.stdout)
        // How many chats share a micro-batch with the first (and so cannot reuse it) depends on timing: most do not.
        #expect(cachedTokens(mpi) >= 16 * 96, "later chats reuse the system message: \(mpi.stderr)")
        let mixed = try CLITests.run(["-n", "1", CLITests.binary] + arguments + ["--transport", "mpi", ":", "-n", "2", CLITests.binary]
                                     + arguments + ["--transport", "mpi", "--no-prefix-caching"],
                                     environment: Self.environment, executable: "mpirun")
        #expect(mixed.status == 0, "\(mixed.stderr)")
        #expect(mixed.stdout == reference.stdout)
        #expect(cachedTokens(mixed) >= 16 * 96, "\(mixed.stderr)")
    }

    /// Greedy output under a JSON schema and under a GBNF grammar: the same tokens in one process at pp 1 to 4 and
    /// over MPI, every output in its grammar.
    @Test func grammarConstrainedOutputIsTheSameOverMPIAndForEveryStageCount() throws {
        let schema = #"{"type": "object", "properties": {"name": {"type": "string", "maxLength": 24}, "age": {"type": "integer", "minimum": 0, "maximum": 120}, "languages": {"type": "array", "items": {"enum": ["English", "French", "German"]}, "maxItems": 2}}, "required": ["name", "age"]}"#
        let file = try CLITests.temporaryFile((0..<12).map { i in
            i % 3 == 2
                ? #"{"prompt": "Question \#(i): is it raining? Answer:", "max_tokens": 8, "grammar": "root ::= \" yes\" | \" no\""}"#
                : #"{"messages": [{"role": "user", "content": "Describe person number \#(i) as JSON."}], "max_tokens": \#(i == 4 ? 6 : 48), "json_schema": \#(schema)}"#
        }.joined(separator: "\n"))
        let arguments = ["generate", "--requests", file, "--json", "--temperature", "0", "--max-num-batched-tokens", "64"]
        let reference = try CLITests.run(arguments + ["--pp", "1"])
        #expect(reference.status == 0, "\(reference.stderr)")
        let lines = reference.stdout.split(separator: "\n")
        #expect(lines.count == 12)
        for (i, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let text = try #require(object["text"] as? String)
            if i % 3 == 2 {
                #expect(text == " yes" || text == " no", "\(text)")
            } else if i != 4 {
                let answer = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                #expect(answer?["name"] is String && answer?["age"] is Int, "\(text)")
            }
        }
        for pp in 2...4 {
            let local = try CLITests.run(arguments + ["--pp", "\(pp)", "--transport", "inprocess"])
            #expect(local.stdout == reference.stdout, "pp \(pp) in one process")
        }
        let mpi = try Self.mpirun(3, arguments + ["--pp", "3", "--transport", "mpi"])
        #expect(mpi.status == 0, "\(mpi.stderr)")
        #expect(mpi.stdout == reference.stdout, "pp 3 over MPI")
    }

    /// The path two hosts would take: Open MPI's TCP transport instead of shared memory (loopback here).
    @Test func theTCPTransportGivesTheSameAnswer() throws {
        let file = try CLITests.temporaryFile(Self.requests)
        let arguments = ["generate", "--requests", file, "--json", "--temperature", "0", "--pp", "2", "--max-num-batched-tokens", "256"]
        let local = try CLITests.run(arguments + ["--transport", "inprocess"])
        let tcp = try Self.mpirun(2, arguments + ["--transport", "mpi"], extra: ["--mca", "btl", "tcp,self"])
        #expect(tcp.status == 0, "\(tcp.stderr)")
        #expect(tcp.stdout == local.stdout)
    }

    @Test func ranksConfiguredDifferentlyFailLoudly() throws {
        // MPMD launch: rank 2 gets a KV cache too small for rank 0's schedule.
        let common = ["generate", "--model", "synthetic:layers=6", "--prompt", String(repeating: "x", count: 1000),
                      "--max-tokens", "4", "--pp", "3", "--transport", "mpi", "--block-size", "16"]
        let run = try CLITests.run(["-n", "2", CLITests.binary] + common + [":", "-n", "1", CLITests.binary] + common
                                   + ["--kv-cache-mb", "1"], environment: Self.environment, executable: "mpirun")
        #expect(run.status != 0)
        #expect(run.stderr.contains("rank 2 cannot follow the schedule"), "\(run.stderr)")
    }

    @Test func aMissingModelFailsTheLaunchWithOneMessage() throws {
        let run = try Self.mpirun(3, ["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi", "--pp", "3",
                                      "--transport", "mpi"])
        #expect(run.status != 0)
        #expect(run.stderr.components(separatedBy: "model not found: /nonexistent/model.gguf").count == 2, "\(run.stderr)")
    }

    @Test func aBadPartitionFailsTheLaunchWithOneMessage() throws {
        let start = Date()
        let run = try Self.mpirun(3, ["generate", "--model", "synthetic:layers=6", "--prompt", "hi", "--pp", "3",
                                      "--pp-partition", "2,2,1", "--transport", "mpi"])
        #expect(run.status != 0)
        #expect(run.stderr.components(separatedBy: "covers 5 layers but the model has 6").count == 2, "\(run.stderr)")
        #expect(Date().timeIntervalSince(start) < 20)
    }

    /// Starts `mpirun -n <ranks> brigade <arguments>` in the background and waits until rank `rank` runs.
    static func launch(_ ranks: Int, _ arguments: [String], waitingFor rank: Int) throws -> (Process, Pipe, Pipe, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CLITests.which("mpirun"))
        process.arguments = ["-n", "\(ranks)", CLITests.binary] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(Self.environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var pid: Int32?
        for _ in 0..<100 where pid == nil {
            Thread.sleep(forTimeInterval: 0.1)
            pid = CLITests.processes(withEnvironment: "OMPI_COMM_WORLD_RANK=\(rank)", command: arguments[0])
        }
        Thread.sleep(forTimeInterval: 1.5)  // let it generate for a while
        return (process, out, err, try #require(pid, "rank \(rank) never started"))
    }

    static func longRun(_ stages: Int) -> [String] {
        ["generate", "--model", "synthetic:layers=6,stage-ms=5", "--prompt", "hello", "--max-tokens", "100000", "--ignore-eos",
         "--pp", "\(stages)", "--transport", "mpi", "--json"]
    }

    @Test func killingARankStopsTheWholeJobAndNamesIt() throws {
        let (process, _, err, victim) = try Self.launch(3, Self.longRun(3), waitingFor: 1)
        let killed = Date()
        kill(victim, SIGKILL)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(Date().timeIntervalSince(killed) < 10)
        #expect(process.terminationStatus != 0)
        #expect(stderr.contains("rank 1"), "\(stderr)")
        #expect(CLITests.processes(withEnvironment: "OMPI_COMM_WORLD_SIZE=3", command: "generate") == nil, "a rank was left behind")
    }

    @Test func aStoppedRankTripsTheWatchdogWhichNamesIt() throws {
        let (process, _, err, victim) = try Self.launch(3, Self.longRun(3) + ["--pp-watchdog-seconds", "2"], waitingFor: 1)
        let stopped = Date()
        kill(victim, SIGSTOP)
        defer { kill(victim, SIGKILL) }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(Date().timeIntervalSince(stopped) < 30, "the job should end soon after the watchdog fires")
        #expect(process.terminationStatus != 0)
        #expect(stderr.contains("watchdog") && stderr.contains("from rank 1"), "\(stderr)")
    }

    @Test func sigtermToRankZeroShutsThePipelineDownCleanly() throws {
        let (process, out, _, rankZero) = try Self.launch(2, Self.longRun(2), waitingFor: 0)
        kill(rankZero, SIGTERM)
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(stdout.contains(#""finish_reason":"abort""#), "\(stdout)")
    }

    @Test func benchPipelineRunsOverMPI() throws {
        let run = try Self.mpirun(2, ["bench", "pipeline", "--model", "synthetic:layers=4,stage-ms=1", "--pp", "2",
                                      "--requests", "8", "--output-tokens", "4", "--transport", "mpi", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect((object?["runs"] as? [[String: Any]])?.count == 2)
        let hops = object?["hop_latency_us"] as? [Double] ?? []
        #expect(hops.count == 1 && hops.allSatisfy { $0 > 0 }, "per-hop latency of rank 1: \(hops)")
    }
}
#endif
