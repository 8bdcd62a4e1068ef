import Foundation

/// Locates golden files produced by `scripts/prepare-test-data`.
enum TestData {
    struct Missing: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "missing test data \(path): run scripts/prepare-test-data (or set BRIGADE_TESTDATA to its output directory)"
        }
    }

    /// `$BRIGADE_TESTDATA`, else `~/.cache/brigade/testdata`.
    static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["BRIGADE_TESTDATA"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/brigade/testdata")
    }

    /// Reads a file under the test data directory; fails with instructions when it is absent.
    static func read(_ relativePath: String) throws -> Data {
        let url = directory.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw Missing(path: url.path) }
        return data
    }
}
