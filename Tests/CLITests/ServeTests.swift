import Foundation
import Testing

/// `brigade serve` driven by the official `openai` Python client (scripts/checks/openai_client.py), with one stage
/// and with two.
@Suite(.serialized) struct ServeTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/checks/openai_client.py").standardized.path

    @Test(arguments: [1, 2])
    func theOpenAIClientGetsWhatItExpects(stages: Int) throws {
        let port = 18_000 + Int(getpid() % 1000) * 2 + stages
        let server = Process()
        server.executableURL = URL(fileURLWithPath: CLITests.binary)
        server.arguments = ["serve", "--port", "\(port)", "--pp", "\(stages)", "--transport", "inprocess"]
        let log = Pipe()
        server.standardOutput = log
        server.standardError = log
        try server.run()
        defer { if server.isRunning { server.terminate() } }
        // Wait for /health.
        var healthy = false
        for _ in 0..<300 where !healthy {
            Thread.sleep(forTimeInterval: 0.1)
            healthy = (try? CLITests.run(["-s", "http://127.0.0.1:\(port)/health"], executable: "curl"))?.stdout == "ok\n"
        }
        #expect(healthy, "the server did not come up")
        let run = try CLITests.run([Self.script, "http://127.0.0.1:\(port)"], executable: "python3")
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("all checks passed"))
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
        #expect(server.terminationStatus == 0, "SIGTERM should shut the server down cleanly")
    }
}
