import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// One element of a parsed SVG document.
struct ParsedElement {
    var name: String
    var attributes: [String: String]
    /// The element's own character data (not its children's).
    var text = ""
    /// The text of a `<title>` child, if any.
    var title: String?
    var parent: Int?

    var cssClass: String? { attributes["class"] }
}

/// Collects every element of an XML document, in document order.
private final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [ParsedElement] = []
    private var stack: [Int] = []

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements.append(ParsedElement(name: elementName, attributes: attributes, parent: stack.last))
        stack.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        guard let index = stack.popLast() else { return }
        if elementName == "title", let parent = elements[index].parent {
            elements[parent].title = elements[index].text
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard let index = stack.last else { return }
        elements[index].text += string
    }
}

/// Parses `svg` as XML; `nil` when it is not well-formed.
func parseXML(_ svg: String) -> [ParsedElement]? {
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = ElementCollector()
    parser.delegate = collector
    guard parser.parse() else { return nil }
    return collector.elements
}

extension [ParsedElement] {
    func withClass(_ cssClass: String) -> [ParsedElement] {
        filter { $0.cssClass == cssClass }
    }

    func named(_ name: String) -> [ParsedElement] {
        filter { $0.name == name }
    }
}

/// Whether `step` is 1, 2 or 5 times a power of ten (within rounding).
func isOneTwoFiveStep(_ step: Double) -> Bool {
    guard step > 0, step.isFinite else { return false }
    let mantissa = step / pow(10, log10(step).rounded(.down))
    return [1.0, 2, 5, 10].contains { abs(mantissa - $0) < 1e-6 }
}
