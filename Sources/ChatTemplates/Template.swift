import Foundation

/// Resource guards that keep a hostile template from hanging or exhausting memory.
public struct TemplateLimits: Sendable, Equatable {
    /// Maximum bytes of text a render may produce (all output buffers together).
    public var maxOutputBytes: Int
    /// Maximum total `for` loop iterations plus macro calls in one render.
    public var maxIterations: Int
    /// Maximum nesting of macro calls (recursion depth).
    public var maxCallDepth: Int
    /// Maximum wall-clock time of one render (checked at every loop iteration and macro call).
    public var maxDuration: Duration

    /// Limits with the given values; see ``default`` for what the defaults are.
    public init(maxOutputBytes: Int = 16 << 20, maxIterations: Int = 1_000_000, maxCallDepth: Int = 64,
                maxDuration: Duration = .seconds(10))
    {
        self.maxOutputBytes = maxOutputBytes
        self.maxIterations = maxIterations
        self.maxCallDepth = maxCallDepth
        self.maxDuration = maxDuration
    }

    /// The default limits: 16 MiB of output (also the largest string or width a template may build),
    /// a million loop iterations and macro calls (also the longest list), macro recursion 64 deep, 10 seconds.
    public static let `default` = TemplateLimits()
}

/// Settings for one render: resource limits and the clock used by `strftime_now`.
public struct RenderOptions: Sendable {
    /// Guards against runaway templates.
    public var limits: TemplateLimits
    /// The instant `strftime_now` formats. Fix it for reproducible output.
    public var now: Date
    /// The time zone `strftime_now` formats in.
    public var timeZone: TimeZone

    /// Options for one render; by default `strftime_now` reads the current time in the current time zone.
    public init(limits: TemplateLimits = .default, now: Date = Date(), timeZone: TimeZone = .current) {
        self.limits = limits
        self.now = now
        self.timeZone = timeZone
    }
}

/// A compiled Jinja template: the subset of jinja2 that chat templates use, rendering byte-for-byte like
/// jinja2's `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with the `loopcontrols`
/// extension and Hugging Face's globals (`raise_exception`, `strftime_now`) and `tojson` filter.
///
/// ```swift
/// let template = try Template("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
/// let text = try template.render(context: ["messages": [["role": "user", "content": "Hi"]]])
/// ```
public struct Template: Sendable {
    /// The template text as given.
    public let source: String
    let statements: [Statement]
    let sourceMap: SourceMap

    /// Compiles `source`. Throws a ``TemplateError`` of kind `.syntax` with the line and column of the problem.
    public init(_ source: String) throws(TemplateError) {
        self.source = source
        var lexer = Lexer(source)
        let map = SourceMap(scalars: lexer.source)
        sourceMap = map
        do {
            let tokens = try lexer.tokenize()
            var parser = Parser(tokens: tokens)
            statements = try parser.parseTemplate()
        } catch {
            throw map.error(error, fallbackOffset: 0)
        }
    }

    /// Renders with the given variables. Missing variables are undefined (print as ""), as in jinja2.
    public func render(context: [String: JinjaValue], options: RenderOptions = RenderOptions())
        throws(TemplateError) -> String
    {
        let interpreter = Interpreter(context: context, limits: options.limits, now: options.now,
                                      timeZone: options.timeZone)
        do {
            _ = try interpreter.execute(statements)
        } catch {
            throw sourceMap.error(error, fallbackOffset: 0)
        }
        return interpreter.output
    }
}

/// One chat message for ``ChatTemplate``: a role, content, and any other fields templates read
/// (`tool_calls`, `tool_call_id`, `name`, `reasoning_content`, …).
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    /// Usually a string; may be a list of content parts (`[{"type": "text", "text": …}]`) or `.none`.
    public var content: JinjaValue
    /// Extra fields, in the order they should appear in the message dictionary.
    public var fields: JinjaDictionary

    /// A message; `fields` are added after `role` and `content` (e.g. `["tool_calls": …]`).
    public init(role: String, content: JinjaValue, fields: JinjaDictionary = [:]) {
        self.role = role
        self.content = content
        self.fields = fields
    }

    /// The message as the dictionary a template sees: `role`, `content`, then the extra fields.
    public var value: JinjaValue {
        var dict: JinjaDictionary = ["role": .string(role), "content": content]
        for (key, value) in fields.pairs { dict[key] = value }
        return .dictionary(dict)
    }
}

/// A model's chat template (`tokenizer.chat_template`), rendered the way Hugging Face `transformers`'
/// `apply_chat_template` does: variables `messages`, `tools` and `documents` (None unless given),
/// `add_generation_prompt`, plus extra variables such as `bos_token` and `eos_token`.
public struct ChatTemplate: Sendable {
    /// The compiled template.
    public let template: Template

    /// Compiles a chat template; throws ``TemplateError`` (`.syntax`) with line and column.
    public init(_ source: String) throws(TemplateError) {
        template = try Template(source)
    }

    /// Renders a conversation given as ``ChatMessage`` values.
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, context: [String: JinjaValue] = [:],
                       options: RenderOptions = RenderOptions()) throws(TemplateError) -> String
    {
        try render(messageValues: messages.map(\.value), addGenerationPrompt: addGenerationPrompt,
                   context: context, options: options)
    }

    /// Renders a conversation given as message dictionaries (e.g. parsed from OpenAI-style JSON).
    /// `context` adds or overrides variables: `bos_token`, `eos_token`, `tools`, `enable_thinking`, …
    public func render(messageValues: [JinjaValue], addGenerationPrompt: Bool, context: [String: JinjaValue] = [:],
                       options: RenderOptions = RenderOptions()) throws(TemplateError) -> String
    {
        var variables: [String: JinjaValue] = ["tools": .none, "documents": .none]
        for (key, value) in context { variables[key] = value }
        variables["messages"] = .array(messageValues)
        variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try template.render(context: variables, options: options)
    }
}
