import Hummingbird

/// Answers a known path asked with a method it does not serve with 405 and an `Allow` header (the router alone
/// would say 404, as if the path did not exist).
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let methods: [String: Set<HTTPRequest.Method>]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let allowed = methods[request.uri.path], !allowed.contains(request.method) else {
            return try await next(request, context)
        }
        let error = APIError(.methodNotAllowed, "\(request.uri.path) does not support \(request.method.rawValue); use "
                             + allowed.map(\.rawValue).sorted().joined(separator: " or "))
        var response = APIServer.json(error.status, error.body)
        response.headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
        return response
    }
}
