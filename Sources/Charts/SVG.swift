/// A value that can be written as an SVG attribute: strings are escaped, numbers are formatted with
/// ``SVG/number(_:maxDecimals:)``.
public protocol SVGAttributeValue {
    /// The attribute text, before XML escaping.
    var svgAttributeText: String { get }
}

extension String: SVGAttributeValue {
    public var svgAttributeText: String { self }
}

extension Substring: SVGAttributeValue {
    public var svgAttributeText: String { String(self) }
}

extension Double: SVGAttributeValue {
    public var svgAttributeText: String { SVG.number(self) }
}

extension Int: SVGAttributeValue {
    public var svgAttributeText: String { String(self) }
}

/// Small helpers for writing SVG documents as text: XML escaping, compact number formatting and a streaming
/// element ``Builder``.
public enum SVG {
    /// Escapes `text` for use in XML character data or a double-quoted attribute.
    ///
    /// `&`, `<`, `>`, `"` and `'` become entities; control characters that XML 1.0 forbids (everything below
    /// U+0020 except tab, line feed and carriage return, plus U+FFFE and U+FFFF) are dropped, so any Swift string
    /// yields well-formed XML.
    public static func escape(_ text: String) -> String {
        var needsWork = false
        for unit in text.utf8 where unit < 0x20 || unit == 0x26 || unit == 0x3C || unit == 0x3E || unit == 0x22
            || unit == 0x27 || unit == 0xEF
        {
            needsWork = true
            break
        }
        guard needsWork else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Formats `value` with at most `maxDecimals` decimals (0...4), without trailing zeros or exponent:
    /// `12.5`, `3`, `0.07`. Non-finite values become `0`; magnitudes are clamped to 1e12.
    public static func number(_ value: Double, maxDecimals: Int = 2) -> String {
        guard value.isFinite else { return "0" }
        let decimals = min(max(maxDecimals, 0), 4)
        let scale = [1.0, 10, 100, 1000, 10000][decimals]
        let clamped = min(max(value, -1e12), 1e12)
        let rounded = (clamped * scale).rounded() / scale
        if rounded == rounded.rounded(.towardZero) {
            return rounded == 0 ? "0" : String(Int64(rounded))
        }
        // The shortest round-trip description of a value with at most 4 decimals and magnitude <= 1e12 is plain
        // decimal notation (Swift switches to exponents only below 1e-4 or at 2^53 and above).
        return rounded.description
    }

    /// Writes an SVG document element by element. Attribute values and text are escaped; elements left open
    /// are closed by ``finished()``.
    ///
    /// ```swift
    /// var svg = SVG.Builder(width: 200, height: 100)
    /// svg.element("rect", ["x": 10.0, "y": 10.0, "width": 50.0, "height": 20.0, "fill": "#1f77b4"], title: "a span")
    /// let text = svg.finished()
    /// ```
    public struct Builder: Sendable {
        private var output: String
        private var openElements: [String] = []

        /// Starts an `<svg>` root of the given size (also used as its `viewBox`), with extra root attributes.
        public init(width: Double, height: Double, attributes: KeyValuePairs<String, any SVGAttributeValue> = [:]) {
            output = ""
            output.reserveCapacity(4096)
            let w = SVG.number(width)
            let h = SVG.number(height)
            output += #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(w)" height="\#(h)" viewBox="0 0 \#(w) \#(h)""#
            Self.write(attributes, into: &output)
            output += ">\n"
            openElements.append("svg")
        }

        /// Opens an element that later children go into; balance it with ``close()``.
        public mutating func open(_ name: String, _ attributes: KeyValuePairs<String, any SVGAttributeValue> = [:]) {
            output += "<" + name
            Self.write(attributes, into: &output)
            output += ">\n"
            openElements.append(name)
        }

        /// Closes the innermost open element (never the root; ``finished()`` does that).
        public mutating func close() {
            guard openElements.count > 1, let name = openElements.popLast() else { return }
            output += "</" + name + ">\n"
        }

        /// Writes a complete element with optional text content and an optional `<title>` child (a tooltip in
        /// browsers).
        public mutating func element(
            _ name: String, _ attributes: KeyValuePairs<String, any SVGAttributeValue> = [:],
            text: String? = nil, title: String? = nil
        ) {
            output += "<" + name
            Self.write(attributes, into: &output)
            if text == nil && title == nil {
                output += "/>\n"
                return
            }
            output += ">"
            if let title { output += "<title>" + SVG.escape(title) + "</title>" }
            if let text { output += SVG.escape(text) }
            output += "</" + name + ">\n"
        }

        /// Appends pre-escaped markup verbatim. The caller is responsible for its well-formedness.
        public mutating func raw(_ markup: String) {
            output += markup
        }

        /// The document text with every open element closed.
        public func finished() -> String {
            var text = output
            for name in openElements.reversed() { text += "</" + name + ">\n" }
            return text
        }

        private static func write(_ attributes: KeyValuePairs<String, any SVGAttributeValue>, into output: inout String) {
            for (key, value) in attributes {
                output += " " + key + "=\"" + SVG.escape(value.svgAttributeText) + "\""
            }
        }
    }
}
