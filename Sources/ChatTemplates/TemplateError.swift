/// Why a template could not be compiled or rendered, and where (line and column in the template source).
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The category of failure.
    public enum Kind: Sendable, Equatable {
        /// The template text is not valid Jinja (or uses a tag, filter or test this engine does not know).
        case syntax
        /// A variable or attribute that does not exist was used in a way that needs a value.
        case undefined
        /// An operation was applied to values of the wrong type (e.g. `1 + 'a'`, calling a string).
        case type
        /// The template called `raise_exception(message)`; ``TemplateError/message`` is the template's message.
        case raised
        /// The template tried something the immutable sandbox forbids (e.g. `list.append`).
        case security
        /// A resource guard tripped: output size, loop iterations, or recursion depth.
        case limit
        /// Any other runtime failure (bad argument value, division by zero, index out of range…).
        case runtime
    }

    /// The category of failure.
    public var kind: Kind
    /// What went wrong, in words.
    public var message: String
    /// 1-based line in the template source (0 when the error has no position, e.g. a context problem).
    public var line: Int
    /// 1-based column (in Unicode scalars) in that line.
    public var column: Int

    /// An error of `kind` at 1-based `line` and `column`.
    public init(kind: Kind, message: String, line: Int, column: Int) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        let place = line > 0 ? "template line \(line), column \(column)" : "template"
        switch kind {
        case .raised: return "\(place): template raised an exception: \(message)"
        case .syntax: return "\(place): syntax error: \(message)"
        case .limit: return "\(place): \(message) (raise the limit in TemplateLimits if this template is trusted)"
        default: return "\(place): \(message)"
        }
    }
}

/// An error raised while evaluating, before its position in the source is known. The interpreter attaches the
/// position of the node being evaluated when it converts this to a ``TemplateError``.
struct EvalError: Error {
    var kind: TemplateError.Kind
    var message: String
    /// Source offset (in Unicode scalars) when already known.
    var offset: Int?

    init(_ kind: TemplateError.Kind, _ message: String, at offset: Int? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
    }
}

/// Converts scalar offsets in the (newline-normalised) source to 1-based line and column.
struct SourceMap: Sendable {
    /// Offsets at which each line starts.
    private let lineStarts: [Int]

    init(scalars: [Unicode.Scalar]) {
        var starts = [0]
        for (i, s) in scalars.enumerated() where s == "\n" { starts.append(i + 1) }
        lineStarts = starts
    }

    func location(of offset: Int) -> (line: Int, column: Int) {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return (low + 1, offset - lineStarts[low] + 1)
    }

    func error(_ error: EvalError, fallbackOffset: Int) -> TemplateError {
        let (line, column) = location(of: error.offset ?? fallbackOffset)
        return TemplateError(kind: error.kind, message: error.message, line: line, column: column)
    }
}
