/// Why a grammar, schema or pattern was refused: what is wrong and where.
public struct GrammarError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Where the problem is: a GBNF line and column (`line 3, column 7`), a JSON pointer into a schema
    /// (`/properties/age/minimum`), or a character offset into a pattern.
    public var location: String
    /// What is wrong, and how to fix it when that is not obvious.
    public var message: String

    public init(location: String, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { location.isEmpty ? message : "\(message) (at \(location))" }
}
