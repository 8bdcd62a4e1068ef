import Foundation
import HTTPTypes
import Hummingbird

/// Requires `Authorization: Bearer <key>` (or Anthropic's `x-api-key: <key>`) on every path but the exempt ones (by
/// default /health and /metrics, for probes and scrapers); anything else gets 401 with the error object of the API
/// the path belongs to. The key is compared in constant time.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]
    let exemptPaths: Set<String>

    init(key: String, exemptPaths: Set<String>) {
        self.key = Array(key.utf8)
        self.exemptPaths = exemptPaths
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if exemptPaths.contains(request.uri.path) { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        let bearer = header.count > prefix.count && header.lowercased().hasPrefix(prefix.lowercased())
            ? Array(header.utf8.dropFirst(prefix.utf8.count)) : nil
        let anthropicKey = request.headers[HTTPField.Name("x-api-key")!].map { Array($0.utf8) }
        guard let given = bearer ?? anthropicKey, Self.constantTimeEqual(given, key) else {
            let error = APIError(.unauthorized, header.isEmpty && anthropicKey == nil
                                 ? "no API key given: send the header Authorization: Bearer <key> (or x-api-key: <key>)"
                                 : "the API key is not valid", code: "invalid_api_key")
            var response = request.uri.path.hasPrefix("/v1/messages") ? MessagesAPI.errorResponse(error)
                : APIServer.json(error.status, error.body)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// Whether `a` equals `b`, in a time that depends only on their lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
