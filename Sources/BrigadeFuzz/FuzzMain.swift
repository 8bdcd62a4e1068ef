import Foundation
import FuzzTargets

// `brigade-fuzz` has two builds.
//
// - `scripts/fuzz` builds it with `--sanitize fuzzer --sanitize address -Xswiftc -DFUZZING`: libFuzzer provides
//   `main` and calls `LLVMFuzzerTestOneInput` with each input for the target named by `BRIGADE_FUZZ_TARGET`.
// - A plain build is a replayer: `brigade-fuzz TARGET FILE_OR_DIRECTORY...` runs each file once and prints its
//   outcome, to reproduce a crash or check a corpus without the fuzzer.

#if FUZZING
nonisolated(unsafe) private var target: FuzzTarget = .gguf  // Set once in LLVMFuzzerInitialize, before any input.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let name = ProcessInfo.processInfo.environment["BRIGADE_FUZZ_TARGET"] ?? ""
    guard let chosen = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("brigade-fuzz: set BRIGADE_FUZZ_TARGET to one of \(names) (got \"\(name)\")\n".utf8))
        exit(2)
    }
    target = chosen
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    _ = target.run(input)
    return 0
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        guard let first = arguments.first, let target = FuzzTarget(rawValue: first), arguments.count >= 2 else {
            print("usage: brigade-fuzz TARGET FILE_OR_DIRECTORY...   (TARGET: \(names))")
            exit(2)
        }
        var files: [String] = []
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("brigade-fuzz: \(path): no such file or directory")
                exit(2)
            }
            if isDirectory.boolValue {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += entries.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var accepted = 0
        for file in files {
            guard let input = FileManager.default.contents(atPath: file) else { continue }
            switch target.run(input) {
            case .accepted:
                accepted += 1
                print("\(file): accepted")
            case .rejected(let message):
                print("\(file): rejected: \(message.prefix(200))")
            }
        }
        print("\(files.count) inputs, \(accepted) accepted, \(files.count - accepted) rejected, no crash")
    }
}
#endif
