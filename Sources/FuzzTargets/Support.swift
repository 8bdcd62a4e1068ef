import ChatTemplates
import Engine
import Foundation
import Server
import Transport

/// A private directory for the files a target writes (in `/dev/shm` when there is one, so inputs never touch disk).
/// Removed when the process exits normally.
final class Scratch: Sendable {
    static let shared = Scratch()
    let root: String

    init() {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        root = base + "/brigade-fuzz-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.shared.root) }
    }

    /// Writes `data` to `name` in the scratch directory and returns its path.
    func write(_ data: Data, to name: String) throws -> String {
        let path = root + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The path of the subdirectory `name`, created if needed.
    func directory(_ name: String) throws -> String {
        let path = root + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// One server over a small synthetic model, built once per process, whose `checkRequest` decodes fuzzed bodies.
/// Its chat template is ChatML, rendered by the real template engine.
final class RequestChecker: Sendable {
    static let shared = RequestChecker()
    let server: APIServer

    static let chatML = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}\
        {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    init() {
        do {
            let model = SyntheticModel(spec: try SyntheticSpec(parsing: "synthetic:layers=2,vocab=300,context=512"))
            let engine = try InferenceEngine.inProcess(model: model)
            let template = try ChatTemplate(Self.chatML)
            var server = APIServer(model: ServedModel(
                name: "fuzz", engine: engine, encode: { model.encode($0) },
                renderChat: { messages, _ in try template.render(messages: messages, addGenerationPrompt: true) }, tokenText: { "t\($0)" }))
            server.bodyLimit = 1 << 20
            server.maxPromptTokens = 400
            self.server = server
        } catch {
            fatalError("cannot build the request fuzzer's server: \(error)")
        }
    }
}
