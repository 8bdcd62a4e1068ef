import ArgumentParser
import Engine
import Foundation
import Logging
import Server
import ServiceLifecycle
import Supervisor

/// `brigade serve`: the OpenAI-compatible HTTP API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics).",
        discussion: """
            The port opens before the model loads; /health answers 503 until it has. SIGINT or SIGTERM stops taking \
            requests, gives the running ones --shutdown-grace-seconds to finish, cancels the rest and exits 0; a second \
            signal cancels them at once. With --transport mpi, rank 0 serves and the other ranks only compute: signal \
            rank 0 (mpirun's own SIGTERM kills every rank after 1 s unless --mca odls_base_sigkill_timeout is raised).
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8000
    @Option(help: "The model name clients send (default: the model file's name).") var servedModelName: String?
    @Option(help: "Answer 429 (with Retry-After) while this many requests wait for admission.") var maxWaitingRequests = 1024
    @Option(help: "Seconds that running requests get to finish after SIGINT or SIGTERM before they are cancelled.")
    var shutdownGraceSeconds = 30.0
    @Option(help: "Require Authorization: Bearer <key> (default: $BRIGADE_API_KEY; none: open).") var apiKey: String?
    @Option(help: "Comma-separated paths served without the API key.") var unauthenticatedPaths = "/health,/metrics,/openapi.json"
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 4 << 20
    @Option(help: "Longest prompt in tokens (default: the model's context).") var maxPromptTokens: Int?
    @Option(help: "Largest request header field, and all of them together, in bytes (beyond: 400).") var maxHeaderBytes = 64 << 10
    @Option(help: "Close a connection idle this many seconds (no request in progress, or a request head still incomplete); 0: never.")
    var idleTimeoutSeconds = 60.0
    @Flag(help: "Do not serve the chat page (/), the pipeline view (/pipeline) or its stream (/v1/pipeline/stream).")
    var noWebUi = false
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Engine") var engine: EngineOptionGroup
    @OptionGroup(title: "Supervision") var supervision: SupervisionOptions

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535, got \(port)") }
        guard maxWaitingRequests >= 1 else { throw ValidationError("--max-waiting-requests must be at least 1") }
        guard (1024...(1 << 30)).contains(maxBodyBytes) else { throw ValidationError("--max-body-bytes must be between 1024 and 1073741824") }
        if let maxPromptTokens, maxPromptTokens < 1 { throw ValidationError("--max-prompt-tokens must be at least 1") }
        guard (1024...(1 << 20)).contains(maxHeaderBytes) else { throw ValidationError("--max-header-bytes must be between 1024 and 1048576") }
        guard idleTimeoutSeconds >= 0, idleTimeoutSeconds.isFinite else {
            throw ValidationError("--idle-timeout-seconds must be 0 (never) or more, got \(idleTimeoutSeconds)")
        }
        if let key = resolvedAPIKey, key.count < 8 || key.contains(where: \.isWhitespace) {
            throw ValidationError("the API key must be at least 8 characters without spaces")
        }
        guard shutdownGraceSeconds >= 0, shutdownGraceSeconds.isFinite else {
            throw ValidationError("--shutdown-grace-seconds must be 0 or more, got \(shutdownGraceSeconds)")
        }
    }

    func run() async throws {
        MemoryReclaimer.start()
        if let link = supervision.supervisorLink { return try runSupervisedRank(link: link) }
        if try engine.isMPIWorker {
            // This rank computes until rank 0 stops the pipeline; signals are rank 0's to act on.
            let ignored = SignalHandler([SIGINT, SIGTERM]) { _ in }
            _ = try withExtendedLifetime(ignored) { try Session(model: model, engine: engine, handlesSIGTERM: false) }
            return
        }
        var logger = Logger(label: "brigade.server")
        logger.logLevel = .info
        let state = ServingState()
        var server = APIServer(state: state, logger: logger)
        server.maxWaitingRequests = maxWaitingRequests
        server.bodyLimit = maxBodyBytes
        server.maxPromptTokens = maxPromptTokens
        server.maxHeaderBytes = maxHeaderBytes
        server.idleTimeout = idleTimeoutSeconds > 0 ? .seconds(idleTimeoutSeconds) : nil
        server.apiKey = resolvedAPIKey
        server.webUI = !noWebUi
        server.unauthenticatedPaths = Set(unauthenticatedPaths.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let (listening, listened) = AsyncStream<Void>.makeStream()
        let application = server.application(host: host, port: port) { listened.finish() }
        let services = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let shutdown = GracefulShutdown(state: state, services: services, grace: shutdownGraceSeconds, logger: logger)
        let signals = SignalHandler([SIGINT, SIGTERM]) { shutdown.signalled($0) }
        defer { withExtendedLifetime(signals) {} }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            tasks.addTask { for await _ in listening {} }
            do {
                try await tasks.next()
            } catch {
                throw CLIError("cannot listen on \(host):\(port): \(error); choose another --port or stop what uses it")
            }
            let served = try await load(into: state, logger: logger, shutdown: shutdown)
            try await tasks.waitForAll()
            logger.info("stopped taking requests; stopping the pipeline")
            if let served {
                try await onThread { served.service.shutdown(drain: false) }
                if let trace = served.trace() { self.engine.saveTrace(trace, variant: served.timeline == nil ? nil : "pipeline") }
                if let timeline = served.timeline { self.engine.saveTimeline(timeline) }
            }
            if !engine.isSupervised { self.engine.finishTransport() }
        }
    }

    /// `--api-key`, else `BRIGADE_API_KEY` (empty means none).
    var resolvedAPIKey: String? {
        let key = apiKey ?? ProcessInfo.processInfo.environment["BRIGADE_API_KEY"]
        return key?.isEmpty == false ? key : nil
    }

    /// What `load` started: the service requests go to, and the timeline to save at the end.
    struct Served {
        let service: any GenerationService
        let trace: @Sendable () -> PipelineTrace?
        var timeline: SupervisorTimeline? = nil
    }

    /// Loads the model and starts its pipeline on a thread of its own while the port already answers /health; then
    /// serves the model. Nil if a shutdown began before the model was ready.
    func load(into state: ServingState, logger: Logger, shutdown: GracefulShutdown) async throws -> Served? {
        let (model, engine) = (self.model, self.engine)
        do {
            let name = servedModelName ?? (model.isSynthetic ? "synthetic" : (model.resolvedPath as NSString).lastPathComponent)
            let served: Served, loaded: LoadedModel
            var timeline: SupervisorTimeline?
            if engine.isSupervised {
                loaded = try await onThread { try model.loadModel() }
                let (launcher, hosts) = try launcher(for: loaded)
                let supervisor: Supervisor
                do {
                    supervisor = try await Supervisor(launcher: launcher, hosts: hosts, encode: loaded.encode, policy: supervision.policy,
                                                      logger: supervisorLogger(), timeline: engine.trace == nil ? nil : SupervisorTimeline())
                } catch {
                    throw CLIError(error.message)
                }
                served = Served(service: supervisor) { (supervisor.currentInstance as? InProcessInstance)?.engine.options.trace }
                timeline = supervisor.timeline
            } else {
                let (text, running) = try await onThread { () throws -> (LoadedModel, InferenceEngine) in
                    let loaded = try engine.loadOnEveryRank { try model.loadModel() }
                    // Rank 0 always gets an engine (only the other MPI ranks get nil).
                    guard let running = try engine.startEngine(loaded.pipeline, options: try engine.options) else {
                        throw CLIError("rank 0 got no engine")
                    }
                    return (loaded, running)
                }
                loaded = text
                served = Served(service: running) { running.options.trace }
                logger.notice("this server runs under mpirun: a rank that dies ends the job and its requests; start `brigade serve --transport mpi --hosts …` directly (not under mpirun) to have it supervise the pipeline and resume requests after a failure")
            }
            state.serve(ServedModel(name: name, engine: served.service, encode: loaded.encode, renderChat: loaded.renderChat,
                                    templateRendersTools: loaded.templateRendersTools, tokenText: loaded.tokenText))
            let shape = served.service.supervision.map { "\($0.stages) stage\($0.stages == 1 ? "" : "s") on \($0.hosts.joined(separator: ", ")), supervised" }
                ?? "\(engine.pp) stage\(engine.pp == 1 ? "" : "s") over MPI"
            logger.info("serving \(name) on http://\(host):\(port) (\(shape)\(engine.usesMPI && engine.isSupervised ? " over MPI" : ""), pid \(getpid()))")
            return Served(service: served.service, trace: served.trace, timeline: timeline)
        } catch {
            shutdown.begin()
            throw error
        }
    }
}
