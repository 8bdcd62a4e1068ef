import Foundation
import HTTPTypes

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`, with an HTTP status.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    /// The request field at fault, if one is.
    public var param: String?
    public var code: String?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error",
                param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { message }

    /// A 400 naming `param`.
    public static func invalid(_ param: String, _ message: String) -> APIError {
        APIError(.badRequest, message, param: param)
    }

    /// 503: the model has not finished loading.
    static let loading = APIError(.serviceUnavailable, "the model is still loading; retry shortly", type: "server_error")

    /// 503: SIGINT or SIGTERM arrived; requests already running finish, new ones are refused.
    static let shuttingDown = APIError(.serviceUnavailable, "the server is shutting down", type: "server_error")

    /// The JSON body.
    public var body: [String: Any] {
        ["error": ["message": message, "type": type, "param": param as Any? ?? NSNull(), "code": code as Any? ?? NSNull()]]
    }
}
