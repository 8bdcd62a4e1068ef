import ArgumentParser
import Engine
import Foundation
import Logging
import Server

/// `brigade serve`: the OpenAI-compatible HTTP API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics).",
        discussion: "SIGINT or SIGTERM stops accepting requests and shuts down. With --transport mpi, rank 0 serves; the other ranks only compute."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8000
    @Option(help: "The model name clients send (default: the model file's name).") var servedModelName: String?
    @Option(help: "Answer 429 (with Retry-After) while this many requests wait for admission.") var maxWaitingRequests = 1024
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Engine") var engine: EngineOptionGroup

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535, got \(port)") }
        guard maxWaitingRequests >= 1 else { throw ValidationError("--max-waiting-requests must be at least 1") }
    }

    func run() async throws {
        guard let session = try Session(model: model, engine: engine, handlesSIGTERM: false) else { return }
        defer { session.close() }
        let name = servedModelName ?? (model.isSynthetic ? "synthetic" : (model.resolvedPath as NSString).lastPathComponent)
        let served = ServedModel(name: name, engine: session.engine, encode: session.model.encode,
                                 renderChat: session.model.renderChat, tokenText: session.model.tokenText)
        var logger = Logger(label: "brigade.server")
        logger.logLevel = .info
        var server = APIServer(model: served, logger: logger)
        server.maxWaitingRequests = maxWaitingRequests
        try await server.application(host: host, port: port).runService()
    }
}
