/// The parameters of a `SyntheticModel`: its shape, and how long each stage sleeps per micro-batch.
///
/// Written as `synthetic:key=value,...`, e.g. `synthetic:layers=32,stage-ms=10,10,10,15,per-token-us=20,jitter=0.2`;
/// bare `synthetic` means all defaults. An item without `=` continues the previous key's list (only `stage-ms` takes
/// a list). Every value is checked on construction, so a `SyntheticSpec` is always usable.
public struct SyntheticSpec: Sendable, Equatable, CustomStringConvertible {
    /// Number of layers (`layers`, 1...65536, default 32).
    public let layerCount: Int
    /// Milliseconds each stage sleeps per micro-batch (`stage-ms`, each 0...600000, default `[0]`): one value for
    /// every stage, or one per stage.
    public let stageMilliseconds: [Double]
    /// Milliseconds each layer adds to its stage's sleep per micro-batch (`layer-ms`, each 0...600000, default `[0]`):
    /// one value for every layer, or one per layer, so uneven layers can be modelled.
    public let layerMilliseconds: [Double]
    /// Extra microseconds a stage sleeps per token in the micro-batch (`per-token-us`, 0...1000000, default 0).
    public let perTokenMicroseconds: Double
    /// Each stage time is multiplied by a factor uniform in `[1 - jitter, 1 + jitter]` (`jitter`, [0, 1), default 0).
    public let jitter: Double
    /// Seeds the jitter and the logits (`seed`, default 0).
    public let seed: UInt64
    /// Vocabulary size (`vocab`, 8...1000000, default 512); the last id is the end-of-sequence token.
    public let vocabSize: Int
    /// Width of the activations between stages (`hidden`, 4...65536, default 64).
    public let hiddenSize: Int
    /// Longest sequence (`context`, 16...16777216, default 4096); positions stay exact as `Float`.
    public let contextLength: Int
    /// Key/value width per layer, used only for KV memory accounting (`kv-dim`, 1...1048576, default 64).
    public let kvDim: Int
    /// Fault injection: the last stage throws once a sequence reaches this position (`fail-at`, 1...16777216, default
    /// none), so tests and drills can see a pipeline fault from outside.
    public let failAtPosition: Int?

    /// A spec with the given values (defaults as in the string form).
    /// - Throws: `SyntheticSpecError` naming the first value out of range.
    public init(layerCount: Int = 32, stageMilliseconds: [Double] = [0], layerMilliseconds: [Double] = [0], perTokenMicroseconds: Double = 0,
                jitter: Double = 0, seed: UInt64 = 0, vocabSize: Int = 512, hiddenSize: Int = 64,
                contextLength: Int = 4096, kvDim: Int = 64, failAtPosition: Int? = nil) throws(SyntheticSpecError) {
        try Key.layers.check(Double(layerCount))
        guard !stageMilliseconds.isEmpty else { throw SyntheticSpecError(#"stage-ms needs at least one value"#) }
        for value in stageMilliseconds { try Key.stageMs.check(value) }
        guard layerMilliseconds.count == 1 || layerMilliseconds.count == layerCount else {
            throw SyntheticSpecError("layer-ms lists \(layerMilliseconds.count) times but the model has \(layerCount) layers (give one value, or one per layer)")
        }
        for value in layerMilliseconds { try Key.layerMs.check(value) }
        try Key.perTokenUs.check(perTokenMicroseconds)
        try Key.jitter.check(jitter)
        try Key.vocab.check(Double(vocabSize))
        try Key.hidden.check(Double(hiddenSize))
        try Key.context.check(Double(contextLength))
        try Key.kvDim.check(Double(kvDim))
        if let failAtPosition { try Key.failAt.check(Double(failAtPosition)) }
        self.layerCount = layerCount
        self.stageMilliseconds = stageMilliseconds
        self.layerMilliseconds = layerMilliseconds
        self.perTokenMicroseconds = perTokenMicroseconds
        self.jitter = jitter
        self.seed = seed
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.contextLength = contextLength
        self.kvDim = kvDim
        self.failAtPosition = failAtPosition
    }

    /// Parses `synthetic` or `synthetic:key=value,...`.
    /// - Throws: `SyntheticSpecError` naming the bad item and what is accepted.
    public init(parsing text: String) throws(SyntheticSpecError) {
        let values = try Self.parse(text)
        func int(_ key: Key, _ fallback: Int) throws(SyntheticSpecError) -> Int {
            guard let raw = values[key]?.first else { return fallback }
            guard let value = Int(raw) else { throw key.notInteger(raw) }
            return value
        }
        func double(_ key: Key, _ fallback: Double) throws(SyntheticSpecError) -> Double {
            guard let raw = values[key]?.first else { return fallback }
            return try key.number(raw)
        }
        func list(_ key: Key) throws(SyntheticSpecError) -> [Double] {
            guard let raws = values[key] else { return [0] }
            var numbers: [Double] = []
            for raw in raws { numbers.append(try key.number(raw)) }
            return numbers
        }
        var seed: UInt64 = 0
        if let raw = values[.seed]?.first {
            guard let value = UInt64(raw) else { throw Key.seed.notInteger(raw) }
            seed = value
        }
        try self.init(layerCount: int(.layers, 32), stageMilliseconds: list(.stageMs), layerMilliseconds: list(.layerMs),
                      perTokenMicroseconds: double(.perTokenUs, 0), jitter: double(.jitter, 0), seed: seed,
                      vocabSize: int(.vocab, 512), hiddenSize: int(.hidden, 64), contextLength: int(.context, 4096),
                      kvDim: int(.kvDim, 64), failAtPosition: values[.failAt] == nil ? nil : int(.failAt, 0))
    }

    /// The canonical string form: `layers` and `stage-ms` always, other keys when they differ from the default.
    /// It parses back to an equal spec.
    public var description: String {
        var items = ["layers=\(layerCount)", "stage-ms=" + stageMilliseconds.map(Self.format).joined(separator: ",")]
        if layerMilliseconds != [0] { items.append("layer-ms=" + layerMilliseconds.map(Self.format).joined(separator: ",")) }
        if perTokenMicroseconds != 0 { items.append("per-token-us=\(Self.format(perTokenMicroseconds))") }
        if jitter != 0 { items.append("jitter=\(Self.format(jitter))") }
        if seed != 0 { items.append("seed=\(seed)") }
        if vocabSize != 512 { items.append("vocab=\(vocabSize)") }
        if hiddenSize != 64 { items.append("hidden=\(hiddenSize)") }
        if contextLength != 4096 { items.append("context=\(contextLength)") }
        if kvDim != 64 { items.append("kv-dim=\(kvDim)") }
        if let failAtPosition { items.append("fail-at=\(failAtPosition)") }
        return "synthetic:" + items.joined(separator: ",")
    }

    /// Whole numbers print without a fraction; others use Swift's shortest round-tripping form.
    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Splits the text into each key's raw values, rejecting malformed, unknown and duplicate items.
    static func parse(_ text: String) throws(SyntheticSpecError) -> [Key: [String]] {
        let prefix = "synthetic"
        guard text.hasPrefix(prefix) else {
            throw SyntheticSpecError(#""\#(text)" does not start with "synthetic" (expected synthetic:key=value,...)"#)
        }
        let rest = text.dropFirst(prefix.count)
        guard !rest.isEmpty else { return [:] }
        guard rest.first == ":" else {
            throw SyntheticSpecError(#""\#(text)" does not start with "synthetic:" (expected synthetic:key=value,...)"#)
        }
        let body = rest.dropFirst()
        guard !body.allSatisfy(\.isWhitespace) else { return [:] }
        var values: [Key: [String]] = [:]
        var current: Key?
        for rawItem in body.split(separator: ",", omittingEmptySubsequences: false) {
            let item = trimmed(rawItem)
            guard !item.isEmpty else { throw SyntheticSpecError("empty item in \"\(body)\" (expected key=value)") }
            guard let equals = item.firstIndex(of: "=") else {
                guard let key = current else { throw SyntheticSpecError(#"item "\#(item)" has no key (expected key=value)"#) }
                guard key.isList else {
                    throw SyntheticSpecError(#"\#(key.rawValue) takes one value, got extra item "\#(item)" (expected key=value)"#)
                }
                values[key, default: []].append(item)
                continue
            }
            let name = trimmed(item[..<equals]), value = trimmed(item[item.index(after: equals)...])
            guard !name.isEmpty else { throw SyntheticSpecError(#"item "\#(item)" has no key (expected key=value)"#) }
            guard let key = Key(rawValue: name) else {
                let known = Key.allCases.map(\.rawValue).joined(separator: ", ")
                throw SyntheticSpecError(#"unknown key "\#(name)" (known: \#(known))"#)
            }
            guard values[key] == nil else { throw SyntheticSpecError(#"duplicate key "\#(name)""#) }
            guard !value.isEmpty else {
                throw SyntheticSpecError(#"\#(name) has an empty value (accepted: \#(key.accepted))"#)
            }
            values[key] = [value]
            current = key
        }
        return values
    }

    static func trimmed(_ text: Substring) -> String {
        String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    /// The spec keys, in canonical order, with their accepted ranges.
    enum Key: String, CaseIterable {
        case layers, stageMs = "stage-ms", layerMs = "layer-ms", perTokenUs = "per-token-us", jitter, seed, vocab, hidden, context
        case kvDim = "kv-dim", failAt = "fail-at"

        var range: (lower: Double, upper: Double, upperIncluded: Bool) {
            switch self {
            case .layers: (1, 65536, true)
            case .stageMs, .layerMs: (0, 600_000, true)
            case .perTokenUs: (0, 1_000_000, true)
            case .jitter: (0, 1, false)
            case .seed: (0, 0x1p64, false)
            case .vocab: (8, 1_000_000, true)
            case .hidden: (4, 65536, true)
            case .context: (16, 16_777_216, true)
            case .kvDim: (1, 1_048_576, true)
            case .failAt: (1, 16_777_216, true)
            }
        }

        var isInteger: Bool { self != .stageMs && self != .layerMs && self != .perTokenUs && self != .jitter }

        /// Keys that take a comma-separated list.
        var isList: Bool { self == .stageMs || self == .layerMs }

        var accepted: String {
            let (lower, upper, upperIncluded) = range
            switch self {
            case .seed: return "an integer in 0...\(UInt64.max)"
            case .jitter: return "a number with 0 <= jitter < 1"
            default:
                let kind = isInteger ? "an integer" : "a number"
                return "\(kind) in \(SyntheticSpec.format(lower))\(upperIncluded ? "..." : "..<")\(SyntheticSpec.format(upper))"
            }
        }

        func check(_ value: Double) throws(SyntheticSpecError) {
            let (lower, upper, upperIncluded) = range
            guard value >= lower, upperIncluded ? value <= upper : value < upper else {
                throw SyntheticSpecError("\(rawValue) value \(SyntheticSpec.format(value)) is out of range (accepted: \(accepted))")
            }
        }

        func number(_ raw: String) throws(SyntheticSpecError) -> Double {
            guard let value = Double(raw) else { throw SyntheticSpecError(#"\#(rawValue) value "\#(raw)" is not a number"#) }
            guard value.isFinite else {
                throw SyntheticSpecError(#"\#(rawValue) value "\#(raw)" is not a finite number (accepted: \#(accepted))"#)
            }
            return value
        }

        func notInteger(_ raw: String) -> SyntheticSpecError {
            SyntheticSpecError(#"\#(rawValue) value "\#(raw)" is not an integer (accepted: \#(accepted))"#)
        }
    }
}

/// A malformed synthetic model spec, or a pipeline split the spec does not fit.
public struct SyntheticSpecError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, naming the bad item and what is accepted.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "synthetic model spec: \(message)" }
}
