import Foundation
import Kernels

/// The supervisor's end of every link: one listening socket for all the jobs it starts. A rank connects and says
/// `hello` with its job's token; the hub hands the connection to that job (and drops anything else).
final class LinkHub: Sendable {
    /// The address ranks connect to (with a job's token appended).
    let host: String
    let port: Int
    private let listener: LinkListener
    private let jobs = Locked<[String: @Sendable (LinkSocket, LinkHello) -> Void]>([:])
    private let stopped = Locked(false)

    /// Listens on `listenHost` (any port) for ranks that reach this process at `advertiseHost`.
    init(listenHost: String, advertiseHost: String) throws(LinkError) {
        listener = try LinkListener(host: listenHost, port: 0)
        host = advertiseHost
        port = listener.port
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "brigade-link-accept"
        thread.start()
    }

    /// A new job's address; its ranks' connections go to `join` until `forget`.
    func register(token: String, join: @escaping @Sendable (LinkSocket, LinkHello) -> Void) -> LinkAddress {
        jobs.withLock { $0[token] = join }
        return LinkAddress(host: host, port: port, token: token)
    }

    func forget(token: String) { _ = jobs.withLock { $0.removeValue(forKey: token) } }

    func stop() { stopped.withLock { $0 = true } }

    private func acceptLoop() {
        while !stopped.withLock({ $0 }) {
            guard let socket = try? listener.accept(timeout: 0.5) else { continue }
            // The first frame must be a hello; read it on a thread of its own so a silent connection blocks no one.
            Thread { [jobs] in
                guard case .hello(let token, let rank, let size, let pid, let host, let bootID)? = try? socket.receiveMessage(timeout: 10),
                      let join = jobs.withLock({ $0[token] }) else {
                    socket.shutDown()
                    return
                }
                join(socket, LinkHello(rank: rank, size: size, pid: pid, host: host, bootID: bootID))
            }.start()
        }
    }
}

/// What a rank said when it joined.
struct LinkHello: Sendable, Equatable {
    var rank: Int
    var size: Int
    var pid: Int32
    var host: String
    var bootID: String

    /// This machine's boot id: a rank that reports the same one shares this kernel (and its pids).
    static let localBootID: String = {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }()
}
