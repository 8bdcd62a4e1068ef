import Foundation
import Testing

/// Locations of the data the tests compare against (prepared by `scripts/prepare-test-data`).
enum TestData {
    static var directory: String {
        ProcessInfo.processInfo.environment["BRIGADE_TESTDATA"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/testdata"
    }

    static var smolLM2: String {
        ProcessInfo.processInfo.environment["BRIGADE_MODEL"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// The path of a real model `scripts/fetch-model` installs (`Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf`,
    /// `gemma-3-270m.Q4_K_M.gguf`).
    static func realModel(_ file: String) -> String {
        (ProcessInfo.processInfo.environment["BRIGADE_MODEL_DIR"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/models") + "/" + file
    }

    /// The path of a test-data file, failing the test with how to prepare it when it is missing.
    static func require(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("missing test data \(path): run scripts/prepare-test-data first", sourceLocation: sourceLocation)
            throw MissingTestData(path: path)
        }
        return path
    }

    struct MissingTestData: Error { let path: String }
}
