import Foundation
import ChatTemplates

/// A template, its variables and the exact output jinja2 gives (checked with jinja2 3.1 in Hugging Face's
/// configuration).
struct RenderCase: Sendable, CustomStringConvertible {
    var source: String
    var expected: String
    var context: [String: JinjaValue] = [:]

    init(_ source: String, _ expected: String, _ context: [String: JinjaValue] = [:]) {
        self.source = source
        self.expected = expected
        self.context = context
    }

    var description: String { source.debugDescription }
}

/// Variables shared by the unit tests.
let sampleContext: [String: JinjaValue] = [
    "user": ["name": "Ann", "tags": ["a", "b"]],
    "items": [3, 1, 2],
    "empty": [],
    "n": nil,
    "messages": [
        ["role": "system", "content": "Be brief."],
        ["role": "user", "content": "Hi"],
        ["role": "assistant", "content": "Hello!"],
    ],
]

/// A fixed instant, 2025-03-14 09:26:53 UTC, for `strftime_now`.
let fixedOptions = RenderOptions(
    now: Date(timeIntervalSince1970: 1_741_944_413), timeZone: TimeZone(identifier: "UTC") ?? .current)

func render(_ source: String, _ context: [String: JinjaValue] = sampleContext) throws(TemplateError) -> String {
    try Template(source).render(context: context, options: fixedOptions)
}

/// The error a template raises at compile or render time, or nil when it renders.
func renderError(_ source: String, _ context: [String: JinjaValue] = sampleContext,
                 limits: TemplateLimits = .default) -> TemplateError?
{
    do throws(TemplateError) {
        var options = fixedOptions
        options.limits = limits
        _ = try Template(source).render(context: context, options: options)
        return nil
    } catch {
        return error
    }
}
