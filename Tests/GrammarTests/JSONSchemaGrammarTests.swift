import Grammar
import Testing

/// The grammar `JSONSchemaGrammar` writes for `schema`, compiled.
private func grammar(_ schema: String, options: JSONGrammarOptions = .init()) throws -> Grammar {
    try Grammar(gbnf: JSONSchemaGrammar.gbnf(schema: schema, options: options))
}

/// The error converting `schema` throws, or `nil` if it converts.
private func refusal(_ schema: String, options: JSONGrammarOptions = .init()) -> GrammarError? {
    do {
        _ = try JSONSchemaGrammar.gbnf(schema: schema, options: options)
        return nil
    } catch {
        return error
    }
}

@Suite struct JSONSchemaGrammarTests {
    // MARK: - Whole documents

    @Test func anyValueAndAnyObject() throws {
        let value = try Grammar(gbnf: JSONSchemaGrammar.anyValue)
        let object = try Grammar(gbnf: JSONSchemaGrammar.anyObject)
        for text in [#"{"a": [1, 2.5e-3, "x\n\u00e9", true, null, {}]}"#, "[]", "-0.5", #""\"""#, "null", "true"] {
            #expect(value.matches(text), "\(text)")
        }
        #expect(object.matches(#"{"a": {"b": [1, {"c": null}]}, "d": "e"}"#))
        #expect(object.matches("{}"))
        for text in ["[]", "1", #""a""#, "{", #"{"a"}"#, #"{"a": 1,}"#, #"{'a': 1}"#, "nul", "01", "1.", #""\x""#] {
            #expect(!object.matches(text), "\(text)")
        }
        #expect(!value.matches("01") && !value.matches(".5") && !value.matches("+1") && !value.matches("[1,]"))
    }

    /// What Pydantic v2's `model_json_schema()` writes for a model with a nested model, an enum, an optional field
    /// and a list of lists.
    @Test func pydanticModel() throws {
        let schema = #"""
        {"$defs": {"Address": {"properties": {"street": {"title": "Street", "type": "string"},
                                              "zip": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null,
                                                      "title": "Zip"}},
                               "required": ["street"], "title": "Address", "type": "object"},
                   "Color": {"enum": ["red", "green"], "title": "Color", "type": "string"}},
         "properties": {"name": {"title": "Name", "type": "string"},
                        "age": {"maximum": 150, "minimum": 0, "title": "Age", "type": "integer"},
                        "address": {"$ref": "#/$defs/Address"},
                        "favorite": {"$ref": "#/$defs/Color", "default": "red"},
                        "grid": {"items": {"items": {"type": "number"}, "type": "array"}, "title": "Grid",
                                 "type": "array"}},
         "required": ["name", "age", "address", "grid"], "title": "Person", "type": "object"}
        """#
        let person = try grammar(schema)
        let valid = [
            #"{"name": "Ann", "age": 31, "address": {"street": "Main St"}, "grid": []}"#,
            #"{"name":"Ann","age":0,"address":{"street":"x","zip":null},"favorite":"green","grid":[[1,2.5],[]]}"#,
            #"{"name": "Ann", "age": 150, "address": {"street": "x", "zip": "02139"}, "grid": [[-1e3]]}"#,
            "{\n  \"name\": \"Ann\",\n  \"age\": 1,\n  \"address\": {\n    \"street\": \"x\"\n  },\n  \"grid\": []\n}",
        ]
        for text in valid { #expect(person.matches(text), "\(text)") }
        let invalid = [
            #"{"name": "Ann", "age": 31, "address": {"street": "Main St"}}"#,  // grid missing
            #"{"name": "Ann", "age": 151, "address": {"street": "x"}, "grid": []}"#,  // age too large
            #"{"name": "Ann", "age": 3.5, "address": {"street": "x"}, "grid": []}"#,  // not an integer
            #"{"name": "Ann", "age": 3, "address": {"zip": null}, "grid": []}"#,  // street missing
            #"{"name": "Ann", "age": 3, "address": {"street": "x"}, "favorite": "blue", "grid": []}"#,
            #"{"name": "Ann", "age": 3, "address": {"street": "x"}, "grid": [1]}"#,  // not a list of lists
            #"{"age": 3, "name": "Ann", "address": {"street": "x"}, "grid": []}"#,  // out of schema order
            #"{"name": "Ann", "age": 3, "address": {"street": "x"}, "grid": [], "extra": 1}"#,
        ]
        for text in invalid { #expect(!person.matches(text), "\(text)") }
        // One rule per definition, referred to by name.
        let gbnf = try JSONSchemaGrammar.gbnf(schema: schema)
        #expect(gbnf.contains("\nAddress ::= ") && gbnf.contains("\nColor ::= "))
        #expect(gbnf.hasPrefix("root ::= "))
    }

    @Test func outputIsDeterministic() throws {
        let schema = ##"{"type": "object", "properties": {"b": {"type": "integer", "minimum": 3}, "a": {"enum": [1, "x", null]}, "c": {"type": "array", "items": {"$ref": "#/$defs/T"}}}, "$defs": {"T": {"type": ["string", "null"], "maxLength": 4}}}"##
        let first = try JSONSchemaGrammar.gbnf(schema: schema)
        for _ in 0..<5 { #expect(try JSONSchemaGrammar.gbnf(schema: schema) == first) }
    }

    // MARK: - Objects

    @Test func optionalPropertiesMayBeLeftOutButKeepTheirOrder() throws {
        // a and c optional, b required: b, ab, bc, abc — never another order.
        let object = try grammar(#"{"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}, "required": ["b"]}"#)
        for text in [#"{"b":2}"#, #"{"a":1,"b":2}"#, #"{"b":2,"c":3}"#, #"{"a":1,"b":2,"c":3}"#] {
            #expect(object.matches(text), "\(text)")
        }
        for text in ["{}", #"{"a":1}"#, #"{"c":3}"#, #"{"a":1,"c":3}"#, #"{"b":2,"a":1}"#, #"{"c":3,"b":2}"#, #"{"b":2,"b":2}"#, #"{"a":1,,"b":2}"#, #"{,"b":2}"#] {
            #expect(!object.matches(text), "\(text)")
        }
        // All optional: any ordered subset, including none.
        let allOptional = try grammar(#"{"type": "object", "properties": {"x": {"type": "boolean"}, "y": {"type": "null"}, "z": {"type": "string"}}}"#)
        let members = [#""x":true"#, #""y":null"#, #""z":"s""#]
        for mask in 0..<8 {
            let text = "{" + members.indices.filter { mask & (1 << $0) != 0 }.map { members[$0] }.joined(separator: ",") + "}"
            #expect(allOptional.matches(text), "\(text)")
        }
        #expect(!allOptional.matches(#"{"z":"s","x":true}"#))
        #expect(!allOptional.matches(#"{"w":1}"#))
    }

    @Test func manyOptionalPropertiesStayLinear() throws {
        let properties = (0..<200).map { #""p\#($0)": {"type": "integer"}"# }.joined(separator: ", ")
        let gbnf = try JSONSchemaGrammar.gbnf(schema: #"{"type": "object", "properties": {\#(properties)}}"#)
        #expect(gbnf.utf8.count < 60_000)
        let object = try Grammar(gbnf: gbnf)
        #expect(object.matches(#"{"p3": 1, "p150": 2, "p199": 3}"#))
        #expect(!object.matches(#"{"p150": 2, "p3": 1}"#))
    }

    @Test func additionalProperties() throws {
        // Unspecified: no keys beyond the listed ones.
        let closed = try grammar(#"{"type": "object", "properties": {"a": {"type": "integer"}}}"#)
        #expect(closed.matches(#"{"a": 1}"#) && closed.matches("{}"))
        #expect(!closed.matches(#"{"a": 1, "b": 2}"#) && !closed.matches(#"{"b": 2}"#))
        // true: other keys with any value, after the listed properties; a listed key cannot reappear as an extra.
        let open = try grammar(#"{"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": true}"#)
        for text in [#"{"a": 1, "b": [true]}"#, #"{"b": "x", "ab": 2}"#, #"{"a": 1}"#, "{}", #"{"": 0}"#, #"{"\"": 0}"#] {
            #expect(open.matches(text), "\(text)")
        }
        #expect(!open.matches(#"{"a": 1, "a": 2}"#))
        #expect(!open.matches(#"{"a": "not an integer"}"#))
        #expect(!open.matches(#"{"b": 1, "a": 2}"#))
        // A schema: extra values must match it.
        let map = try grammar(#"{"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}"#)
        #expect(map.matches(#"{"x": 1, "y": 20}"#) && map.matches("{}"))
        #expect(!map.matches(#"{"x": -1}"#) && !map.matches(#"{"x": "1"}"#))
        // The empty object schema, or type object alone: any object.
        for schema in [#"{"type": "object"}"#, #"{"type": "object", "additionalProperties": true}"#] {
            let any = try grammar(schema)
            #expect(any.matches(#"{"anything": [1, {"nested": null}]}"#) && any.matches("{}"))
            #expect(!any.matches("[]"))
        }
        // Required keys that are not listed properties take any value.
        let required = try grammar(#"{"type": "object", "required": ["id"]}"#)
        #expect(required.matches(#"{"id": [1]}"#) && !required.matches("{}"))
    }

    @Test func whitespaceIsBoundedAndOnlyBetweenTokens() throws {
        let object = try grammar(#"{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}, "required": ["a"]}"#)
        let indent20 = String(repeating: " ", count: 20)
        for text in [#"{"a":[1,2]}"#, #"{ "a" : [ 1 , 2 ] }"#, "{\n\t\"a\": [\n\n\(indent20)1,\n  2\n]\n}", "{\"a\":[]}"] {
            #expect(object.matches(text), "\(text)")
        }
        let invalid = [
            " {\"a\":[]}", "{\"a\":[]} ", "{\"a\":[]}\n",  // before or after the document
            "{  \"a\":[]}",  // two spaces
            "{\n\n\n\"a\":[]}",  // three newlines
            "{\n" + indent20 + " \"a\":[]}",  // 21 indentation characters
            "{\t\"a\":[]}",  // a tab not after a newline
            "{\r\n\"a\":[]}",
        ]
        for text in invalid { #expect(!object.matches(text), "\(text.debugDescription)") }
    }

    // MARK: - enum, const, type lists, combinators

    @Test func enumAndConstMatchCompactLiterals() throws {
        let choice = try grammar(#"{"enum": ["a\"b", 1.50, null, true, [1, {"k": "v"}], {"x": []}]}"#)
        for text in [#""a\"b""#, "1.50", "null", "true", #"[1,{"k":"v"}]"#, #"{"x":[]}"#] {
            #expect(choice.matches(text), "\(text)")
        }
        for text in [#""ab""#, "1.5", "false", #"[1, {"k": "v"}]"#, #""a""#] { #expect(!choice.matches(text), "\(text)") }
        let constant = try grammar(#"{"const": "fixed", "description": "only this"}"#)
        #expect(constant.matches(#""fixed""#) && !constant.matches(#""other""#))
        // Values not of the given type are dropped.
        let typed = try grammar(#"{"type": "string", "enum": ["x", 1, null]}"#)
        #expect(typed.matches(#""x""#) && !typed.matches("1") && !typed.matches("null"))
        let integers = try grammar(#"{"type": "integer", "enum": [1, 2.0, 2.5]}"#)
        #expect(integers.matches("1") && integers.matches("2.0") && !integers.matches("2.5"))
        #expect(refusal(#"{"type": "string", "enum": [1, 2]}"#)?.location == "/enum")
    }

    @Test func typeListsAndNullable() throws {
        let stringOrNull = try grammar(#"{"type": ["string", "null"], "maxLength": 2}"#)
        #expect(stringOrNull.matches(#""ab""#) && stringOrNull.matches("null"))
        #expect(!stringOrNull.matches(#""abc""#) && !stringOrNull.matches("1"))
        let nullable = try grammar(#"{"type": "integer", "nullable": true}"#)
        #expect(nullable.matches("5") && nullable.matches("null") && !nullable.matches(#""5""#))
        // No type: inferred from the keywords, or any value.
        let inferred = try grammar(#"{"properties": {"a": {"const": 1}}, "required": ["a"]}"#)
        #expect(inferred.matches(#"{"a":1}"#) && !inferred.matches("1"))
        let anything = try grammar(#"{"description": "no constraints"}"#)
        #expect(anything.matches("[1, {}]") && anything.matches("false"))
        #expect(try grammar("true").matches(#"{"x": 1}"#))
        #expect(refusal("false")?.message.contains("matches nothing") == true)
        #expect(refusal(#"{"type": "float"}"#)?.location == "/type")
    }

    @Test func anyOfOneOfAndMergedSiblings() throws {
        let union = try grammar(#"{"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string", "pattern": "^x+$"}, false]}"#)
        #expect(union.matches("12") && union.matches(#""xxx""#))
        #expect(!union.matches("9") && !union.matches(#""y""#))
        // A Pydantic discriminated union: oneOf of references, with a discriminator annotation.
        let pets = try grammar(#"""
        {"$defs": {"Cat": {"properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}}, "required": ["kind", "lives"], "type": "object"},
                   "Dog": {"properties": {"kind": {"const": "dog"}, "good": {"type": "boolean"}}, "required": ["kind", "good"], "type": "object"}},
         "properties": {"pet": {"discriminator": {"mapping": {"cat": "#/$defs/Cat", "dog": "#/$defs/Dog"}, "propertyName": "kind"},
                                "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}},
         "required": ["pet"], "type": "object"}
        """#)
        #expect(pets.matches(#"{"pet": {"kind": "cat", "lives": 9}}"#) && pets.matches(#"{"pet": {"kind": "dog", "good": true}}"#))
        #expect(!pets.matches(#"{"pet": {"kind": "cat", "good": true}}"#))
        // Keywords next to anyOf apply to every alternative.
        let shared = try grammar(#"{"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"], "anyOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"properties": {"b": {"type": "null"}}, "required": ["b"]}]}"#)
        #expect(shared.matches(#"{"id": 1, "a": "x"}"#) && shared.matches(#"{"id": 1, "b": null}"#))
        #expect(!shared.matches(#"{"id": 1}"#) && !shared.matches(#"{"a": "x"}"#))
    }

    @Test func allOfAndReferencesWithSiblingsMerge() throws {
        // Inheritance: the base's properties first, the required lists united.
        let merged = try grammar(#"""
        {"definitions": {"Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
         "allOf": [{"$ref": "#/definitions/Base"}, {"properties": {"name": {"type": "string"}}, "required": ["name"]}]}
        """#)
        #expect(merged.matches(#"{"id": 1, "name": "n"}"#))
        #expect(!merged.matches(#"{"id": 1}"#) && !merged.matches(#"{"name": "n", "id": 1}"#))
        let single = try grammar(#"{"allOf": [{"type": "string", "maxLength": 1}], "title": "t"}"#)
        #expect(single.matches(#""a""#) && !single.matches(#""ab""#))
        // $ref with a sibling constraint is merged too.
        let refined = try grammar(##"{"$defs": {"S": {"type": "string"}}, "$ref": "#/$defs/S", "maxLength": 2}"##)
        #expect(refined.matches(#""ab""#) && !refined.matches(#""abc""#))
        // Types intersect; the same keyword twice must agree.
        #expect(try grammar(#"{"allOf": [{"type": ["integer", "string"]}, {"type": "number"}]}"#).matches("3"))
        let conflict = refusal(#"{"allOf": [{"type": "string", "maxLength": 2}, {"maxLength": 3}]}"#)
        #expect(conflict?.location == "/maxLength" && conflict?.message.contains("maxLength") == true)
        #expect(refusal(#"{"allOf": [{"type": "string"}, {"type": "integer"}]}"#)?.location == "/type")
        #expect(refusal(##"{"$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}]}}, "$ref": "#/$defs/A", "title": "x", "type": "object"}"##) != nil)
    }

    @Test func recursiveDefinitions() throws {
        let tree = try grammar(#"""
        {"$defs": {"Node": {"type": "object", "properties": {"value": {"type": "integer"},
                                                              "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                            "required": ["value", "children"]}},
         "$ref": "#/$defs/Node"}
        """#)
        #expect(tree.matches(#"{"value": 1, "children": [{"value": 2, "children": []}, {"value": 3, "children": [{"value": 4, "children": []}]}]}"#))
        #expect(!tree.matches(#"{"value": 1, "children": [{"value": 2}]}"#))
        // "#": the root refers to itself.
        let list = try grammar(##"{"type": "object", "properties": {"head": {"type": "string"}, "tail": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["head", "tail"]}"##)
        #expect(list.matches(#"{"head": "a", "tail": {"head": "b", "tail": null}}"#))
        #expect(!list.matches(#"{"head": "a", "tail": {"head": "b"}}"#))
        // A merge that recurs inside itself (allOf around a reference to the root) refers back to its own rule.
        let merged = try grammar(##"{"type": "object", "properties": {"children": {"type": "array", "items": {"allOf": [{"$ref": "#"}], "description": "child"}}}}"##)
        #expect(merged.matches(#"{"children": [{"children": []}, {}, {"children": [{}]}]}"#))
        #expect(!merged.matches(#"{"children": [1]}"#))
        // A pointer with escaped tokens.
        let escaped = try grammar(##"{"$defs": {"a/b~c": {"type": "null"}}, "$ref": "#/$defs/a~1b~0c"}"##)
        #expect(escaped.matches("null"))
    }

    @Test func referencesThatCannotTerminateAreRefused() {
        let cycle = refusal(##"{"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]}}, "$ref": "#/$defs/A"}"##)
        #expect(cycle?.message.contains("$ref cycle") == true, "\(String(describing: cycle))")
        #expect(refusal(##"{"anyOf": [{"$ref": "#"}, {"type": "null"}]}"##)?.message.contains("$ref cycle") == true)
        #expect(refusal(##"{"$ref": "#/$defs/Missing"}"##)?.location == "/$ref")
        #expect(refusal(#"{"$ref": "https://example.com/schema.json"}"#)?.message.contains("local") == true)
    }

    // MARK: - Arrays

    @Test func itemCounts() throws {
        let bounded = try grammar(#"{"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4}"#)
        let atLeast = try grammar(#"{"type": "array", "items": {"type": "integer"}, "minItems": 3}"#)
        let atMost = try grammar(#"{"type": "array", "maxItems": 2}"#)
        for count in 0...7 {
            let text = "[" + (0..<count).map(String.init).joined(separator: ", ") + "]"
            #expect(bounded.matches(text) == (2...4).contains(count), "\(text)")
            #expect(atLeast.matches(text) == (count >= 3), "\(text)")
            #expect(atMost.matches(text) == (count <= 2), "\(text)")
        }
        // Large bounds stay linear.
        let large = try JSONSchemaGrammar.gbnf(schema: #"{"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}, "minItems": 100, "maxItems": 10000}"#)
        #expect(large.utf8.count < 2_000)
        #expect(refusal(#"{"type": "array", "maxItems": 20000}"#)?.location == "/maxItems")
        #expect(refusal(#"{"type": "array", "minItems": 3, "maxItems": 2}"#)?.location == "/minItems")
        #expect(refusal(#"{"type": "array", "minItems": 1.5}"#)?.location == "/minItems")
    }

    @Test func tuples() throws {
        let exact = try grammar(#"{"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2, "maxItems": 2}"#)
        #expect(exact.matches(#"["a", 1]"#))
        #expect(!exact.matches(#"["a"]"#) && !exact.matches(#"["a", 1, 2]"#) && !exact.matches(#"[1, "a"]"#))
        // Without items nothing may follow the tuple; without minItems all of it is required.
        let prefix = try grammar(#"{"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}"#)
        #expect(prefix.matches(#"["a", 1]"#))
        for text in ["[]", #"["a"]"#, #"["a", 1, 2]"#, "[1]"] { #expect(!prefix.matches(text), "\(text)") }
        let shorter = try grammar(#"{"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 1}"#)
        #expect(shorter.matches(#"["a"]"#) && shorter.matches(#"["a", 1]"#) && !shorter.matches("[]"))
        let rest = try grammar(#"{"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "boolean"}, "minItems": 2, "maxItems": 3}"#)
        #expect(rest.matches(#"["a", true]"#) && rest.matches(#"["a", true, false]"#))
        #expect(!rest.matches(#"["a"]"#) && !rest.matches(#"["a", true, false, true]"#) && !rest.matches(#"["a", "b"]"#))
        let closed = try grammar(#"{"type": "array", "prefixItems": [{"type": "null"}], "items": false}"#)
        #expect(closed.matches("[null]") && !closed.matches("[null, null]"))
        #expect(refusal(#"{"type": "array", "prefixItems": [{"type": "null"}], "minItems": 2}"#)?.location == "/minItems")
    }

    // MARK: - Strings

    @Test func stringLengthsCountCharactersAndEscapes() throws {
        let short = try grammar(#"{"type": "string", "minLength": 2, "maxLength": 3}"#)
        for text in [#""ab""#, #""abc""#, #""é€""#, #""\n\u0041""#, #""a\"b""#, #""😀😀""#] { #expect(short.matches(text), "\(text)") }
        for text in [#""a""#, #""abcd""#, #""""#, #""ab"#, #""\n\n\n\n""#] { #expect(!short.matches(text), "\(text)") }
        let string = try grammar(#"{"type": "string"}"#)
        #expect(string.matches(#""tab\there \/ \\ \u00e9""#))
        // Control characters and DEL must be escaped; unknown escapes are invalid.
        #expect(!string.matches("\"a\u{01}b\"") && !string.matches("\"a\u{7F}b\"") && !string.matches("\"a\nb\""))
        #expect(!string.matches(#""\x41""#) && !string.matches(#""\u12""#))
        #expect(refusal(#"{"type": "string", "maxLength": 100000}"#)?.location == "/maxLength")
    }

    @Test func patternsSearchUnlessAnchored() throws {
        let anchored = try grammar(#"{"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"}"#)
        #expect(anchored.matches(#""AB-123""#))
        #expect(!anchored.matches(#""xAB-123""#) && !anchored.matches(#""AB-1234""#) && !anchored.matches(#""ab-123""#))
        let search = try grammar(#"{"type": "string", "pattern": "[0-9]{3}"}"#)
        #expect(search.matches(#""abc 123 def""#) && search.matches(#""123""#) && search.matches(#""\n123\"""#))
        #expect(!search.matches(#""12 34""#))
        let prefix = try grammar(#"{"type": "string", "pattern": "^https?://"}"#)
        #expect(prefix.matches(#""https://x.org/a b""#) && !prefix.matches(#""ftp://x""#))
        let suffix = try grammar(#"{"type": "string", "pattern": "\\.json$"}"#)
        #expect(suffix.matches(#""a.json""#) && !suffix.matches(#""a.json5""#))
    }

    @Test func patternCharactersAreJSONEscaped() throws {
        // The pattern matches the decoded string a"b\c followed by a newline.
        let quoted = try grammar(#"{"type": "string", "pattern": "^a\"b\\\\c\\n$"}"#)
        #expect(quoted.matches(#""a\"b\\c\n""#))
        #expect(!quoted.matches("\"a\"b\\c\n\"") && !quoted.matches(#""a\"b\\c""#))
        // `.` and negated classes take escaped characters too, but not a line break for `.`.
        let dots = try grammar(#"{"type": "string", "pattern": "^.[^a]$"}"#)
        #expect(dots.matches(#""\"\t""#) && dots.matches(#""x\\""#) && dots.matches(#""éb""#))
        #expect(!dots.matches(#""\nb""#) && !dots.matches(#""xa""#) && !dots.matches("\"x\u{01}\""))
        let error = refusal(#"{"properties": {"code": {"type": "string", "pattern": "^(?=x)"}}}"#)
        #expect(error?.location == "/properties/code/pattern")
        #expect(error?.message.contains("offset 1") == true, "\(String(describing: error))")
        #expect(refusal(#"{"type": "string", "pattern": "^a+$", "maxLength": 3}"#)?.location == "/maxLength")
    }

    @Test func formats() throws {
        let cases: [(format: String, valid: [String], invalid: [String])] = [
            ("date", ["2024-02-29", "2000-02-29", "1999-12-31", "2023-04-30", "0001-01-01"],
             ["2023-02-29", "1900-02-29", "2024-02-30", "2024-04-31", "2024-13-01", "2024-1-01", "2024-00-10", "2024-01-32", "0000-01-01", "24-01-01"]),
            ("time", ["23:59:59Z", "00:00:00.123+05:30", "12:30:00-08:00"], ["24:00:00Z", "12:60:00Z", "12:30:00", "1:00:00Z"]),
            ("date-time", ["2024-05-01T12:30:00Z", "2024-05-01T12:30:00.5+01:00"], ["2024-05-01 12:30:00Z", "2024-05-01T12:30Z", "2024-05-01"]),
            ("duration", ["P1D", "PT1H30M", "P1Y2M3DT4H5M6.5S", "P2W", "PT0.5S"], ["P", "PT", "1D", "P1H", "PT1D"]),
            ("uuid", ["123e4567-e89b-12d3-a456-426614174000", "ABCDEF00-0000-0000-0000-000000000000"], ["123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g"]),
            ("email", ["a@b.co", "first.last+tag@sub.example.org"], ["a@b", "@b.co", "a@@b.co", "a b@c.de", "a@-b.co"]),
            ("hostname", ["localhost", "api.example-1.com"], ["-bad.com", "bad-.com", "a..b", ""]),
            ("ipv4", ["192.168.0.1", "255.255.255.255", "0.0.0.0"], ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5"]),
            ("ipv6", ["::1", "::", "2001:db8::8a2e:370:7334", "fe80::1:2:3:4", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8"], ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", ":1"]),
            ("uri", ["https://example.com/a?b=c#d", "mailto:someone@example.com", "urn:isbn:0451450523"], ["example.com", "://x", "http://a b", "1http://x"]),
        ]
        for entry in cases {
            let format = try grammar(#"{"type": "string", "format": "\#(entry.format)"}"#)
            for text in entry.valid { #expect(format.matches("\"\(text)\""), "\(entry.format): \(text)") }
            for text in entry.invalid { #expect(!format.matches("\"\(text)\""), "\(entry.format): \(text)") }
        }
        let unknown = refusal(#"{"type": "string", "format": "credit-card"}"#)
        #expect(unknown?.location == "/format")
        #expect(unknown?.message.contains("credit-card") == true && unknown?.message.contains("date-time") == true)
        // Lengths the format already satisfies are fine; others are refused, except a uri's maxLength.
        #expect(try grammar(#"{"type": "string", "format": "date", "minLength": 1, "maxLength": 10}"#).matches(#""2024-01-01""#))
        #expect(refusal(#"{"type": "string", "format": "email", "maxLength": 50}"#)?.location == "/maxLength")
        let httpURL = try grammar(#"{"format": "uri", "maxLength": 20, "minLength": 1, "type": "string"}"#)
        #expect(httpURL.matches(#""https://example.com""#) && !httpURL.matches(#""https://example.com/a""#))
        #expect(httpURL.matches(#""a:b%20c""#) && !httpURL.matches(#""a:b%zz""#))
    }

    // MARK: - Numbers

    struct IntegerBounds: Sendable, CustomStringConvertible {
        var keywords: String
        var lowest: Int?
        var highest: Int?
        var description: String { keywords }
    }

    static let integerBounds = [
        IntegerBounds(keywords: #""minimum": 0, "maximum": 100"#, lowest: 0, highest: 100),
        IntegerBounds(keywords: #""minimum": -5, "maximum": 37"#, lowest: -5, highest: 37),
        IntegerBounds(keywords: #""minimum": 0"#, lowest: 0, highest: nil),
        IntegerBounds(keywords: #""minimum": 7"#, lowest: 7, highest: nil),
        IntegerBounds(keywords: #""minimum": -42"#, lowest: -42, highest: nil),
        IntegerBounds(keywords: #""maximum": 0"#, lowest: nil, highest: 0),
        IntegerBounds(keywords: #""maximum": -7"#, lowest: nil, highest: -7),
        IntegerBounds(keywords: #""maximum": 120"#, lowest: nil, highest: 120),
        IntegerBounds(keywords: #""minimum": -150, "maximum": -100"#, lowest: -150, highest: -100),
        IntegerBounds(keywords: #""minimum": -99, "maximum": 99"#, lowest: -99, highest: 99),
        IntegerBounds(keywords: #""minimum": 10, "maximum": 10"#, lowest: 10, highest: 10),
        IntegerBounds(keywords: #""minimum": 1, "maximum": 1000"#, lowest: 1, highest: 1000),
        IntegerBounds(keywords: #""exclusiveMinimum": -1, "exclusiveMaximum": 10"#, lowest: 0, highest: 9),
        IntegerBounds(keywords: #""minimum": 1.5, "maximum": 99.5"#, lowest: 2, highest: 99),
        IntegerBounds(keywords: #""minimum": -2.5, "exclusiveMaximum": 2.5"#, lowest: -2, highest: 2),
        IntegerBounds(keywords: #""minimum": 5, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": true"#, lowest: 6, highest: 8),
        IntegerBounds(keywords: #""minimum": 3, "exclusiveMinimum": 5"#, lowest: 6, highest: nil),
        IntegerBounds(keywords: #""minimum": 1e2, "maximum": 1.25e2"#, lowest: 100, highest: 125),
    ]

    @Test(arguments: integerBounds)
    func integerRangesAreExact(_ bounds: IntegerBounds) throws {
        let integer = try grammar(#"{"type": "integer", \#(bounds.keywords)}"#)
        for value in -150...150 {
            let expected = bounds.lowest.map { value >= $0 } ?? true && bounds.highest.map { value <= $0 } ?? true
            #expect(integer.matches(String(value)) == expected, "\(value)")
        }
        // Open sides go on; no leading zeros, no -0, no fractions.
        if bounds.highest == nil { #expect(integer.matches("12345678901234")) }
        if bounds.lowest == nil { #expect(integer.matches("-12345678901234")) }
        for text in ["007", "-0", "1.0", "1e2", "+5", "", "-"] { #expect(!integer.matches(text), "\(text)") }
    }

    @Test func integersWithoutBoundsAndLargeBounds() throws {
        let integer = try grammar(#"{"type": "integer"}"#)
        #expect(integer.matches("0") && integer.matches("-17") && integer.matches("9007199254740991"))
        #expect(!integer.matches("1.5") && !integer.matches("01") && !integer.matches("1e3"))
        let int64 = try grammar(#"{"type": "integer", "minimum": -9223372036854775806, "maximum": 9223372036854775806}"#)
        #expect(int64.matches("9223372036854775806") && !int64.matches("9223372036854775807"))
        #expect(int64.matches("-9223372036854775806") && !int64.matches("-9223372036854775807"))
        #expect(refusal(#"{"type": "integer", "minimum": 5, "maximum": 4}"#)?.location == "/minimum")
        #expect(refusal(#"{"type": "integer", "maximum": 1e30}"#)?.location == "/maximum")
        #expect(refusal(#"{"type": "integer", "minimum": "0"}"#)?.location == "/minimum")
    }

    @Test func numbersWithIntegerBounds() throws {
        struct Case { var keywords: String; var accepts: (Double) -> Bool }
        let cases = [
            Case(keywords: #""minimum": 0, "maximum": 1"#) { $0 >= 0 && $0 <= 1 },
            Case(keywords: #""exclusiveMinimum": 0"#) { $0 > 0 },
            Case(keywords: #""minimum": 0"#) { $0 >= 0 },
            Case(keywords: #""maximum": 0"#) { $0 <= 0 },
            Case(keywords: #""exclusiveMaximum": 0"#) { $0 < 0 },
            Case(keywords: #""minimum": -1, "exclusiveMaximum": 2"#) { $0 >= -1 && $0 < 2 },
            Case(keywords: #""exclusiveMinimum": -2, "maximum": -1"#) { $0 > -2 && $0 <= -1 },
            Case(keywords: #""exclusiveMinimum": 1, "exclusiveMaximum": 2"#) { $0 > 1 && $0 < 2 },
            Case(keywords: #""minimum": 1, "maximum": 1"#) { $0 == 1 },
        ]
        for entry in cases {
            let number = try grammar(#"{"type": "number", \#(entry.keywords)}"#)
            for quarter in -12...12 {
                let value = Double(quarter) / 4
                let magnitude = abs(value)
                let whole = Int(magnitude)
                let fraction = Int((magnitude - Double(whole)) * 100)
                let sign = value < 0 ? "-" : ""
                var spellings = ["\(sign)\(whole).\(fraction < 10 ? "0" : "")\(fraction)"]
                if fraction == 0 { spellings += ["\(sign)\(whole)", "\(sign)\(whole).0"] }
                if fraction == 50 { spellings.append("\(sign)\(whole).5") }
                for text in spellings where text != "-0" && text != "-0.0" && text != "-0.00" {
                    #expect(number.matches(text) == entry.accepts(value), "\(entry.keywords): \(text)")
                }
            }
        }
        let unbounded = try grammar(#"{"type": "number"}"#)
        for text in ["0", "-0.5", "1e10", "2.5E-3", "1E+2", "123.456"] { #expect(unbounded.matches(text), "\(text)") }
        for text in ["1.", ".5", "1e", "--1", "0x10", "NaN", "01.5"] { #expect(!unbounded.matches(text), "\(text)") }
        #expect(refusal(#"{"type": "number", "minimum": 0.5}"#)?.location == "/minimum")
        #expect(refusal(#"{"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}"#) != nil)
    }

    // MARK: - Refusals and limits

    struct Unsupported: Sendable, CustomStringConvertible {
        var schema: String
        var keyword: String
        var pointer: String
        var description: String { keyword }
    }

    static let unsupported = [
        Unsupported(schema: #"{"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}}"#, keyword: "uniqueItems", pointer: "/properties/tags/uniqueItems"),
        Unsupported(schema: #"{"type": "integer", "multipleOf": 5}"#, keyword: "multipleOf", pointer: "/multipleOf"),
        Unsupported(schema: #"{"not": {"type": "null"}}"#, keyword: "not", pointer: "/not"),
        Unsupported(schema: #"{"type": "object", "patternProperties": {"^x": {}}}"#, keyword: "patternProperties", pointer: "/patternProperties"),
        Unsupported(schema: #"{"type": "object", "minProperties": 1}"#, keyword: "minProperties", pointer: "/minProperties"),
        Unsupported(schema: ##"{"$defs": {"A": {"type": "array", "contains": {"type": "null"}}}, "$ref": "#/$defs/A"}"##, keyword: "contains", pointer: "/$defs/A/contains"),
        Unsupported(schema: #"{"anyOf": [{"type": "string"}, {"if": {"type": "string"}}]}"#, keyword: "if", pointer: "/anyOf/1/if"),
        Unsupported(schema: #"{"items": [{"type": "null"}], "additionalItems": false}"#, keyword: "additionalItems", pointer: "/additionalItems"),
        Unsupported(schema: #"{"properties": {"a/b": {"dependentRequired": {}}}}"#, keyword: "dependentRequired", pointer: "/properties/a~1b/dependentRequired"),
    ]

    @Test(arguments: unsupported)
    func unsupportedKeywordsAreNamedAtTheirPointer(_ entry: Unsupported) throws {
        let error = try #require(refusal(entry.schema))
        #expect(error.location == entry.pointer)
        #expect(error.message.contains("unsupported JSON Schema keyword \"\(entry.keyword)\"; supported: "))
    }

    @Test func uniqueItemsFalseAndAnnotationsAreAccepted() throws {
        let schema = #"{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "$comment": "c", "title": "t", "description": "d", "examples": [1], "default": [], "deprecated": false, "readOnly": true, "writeOnly": false, "strict": true, "type": "array", "uniqueItems": false}"#
        #expect(try grammar(schema).matches("[1, 1]"))
    }

    @Test func invalidSchemaTextIsLocatedByLineAndColumn() {
        let error = refusal("{\n  \"type\": \"object\",\n  \"properties\": {\"a\": }\n}")
        #expect(error?.location == "line 3, column 23", "\(String(describing: error))")
        #expect(refusal(#"{"type": "string",}"#)?.location.hasPrefix("line 1") == true)
        #expect(refusal(#"["not a schema"]"#)?.location == "")
    }

    @Test func limits() throws {
        var nested = #"{"type": "null"}"#
        for _ in 0..<70 { nested = #"{"type": "array", "items": \#(nested)}"# }
        let tooDeep = refusal(nested)
        #expect(tooDeep?.message.contains("maxDepth") == true, "\(String(describing: tooDeep))")
        var options = JSONGrammarOptions()
        options.maxDepth = 100
        #expect(try grammar(nested, options: options).matches(String(repeating: "[", count: 70) + String(repeating: "]", count: 70)))
        // JSON nested far deeper than any schema is refused while parsing, without recursion.
        let deepJSON = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(refusal(deepJSON)?.location.hasPrefix("line 1") == true)

        var small = JSONGrammarOptions()
        small.maxGrammarBytes = 300
        let properties = (0..<50).map { #""p\#($0)": {"type": "string", "maxLength": \#($0 + 1)}"# }.joined(separator: ", ")
        let tooLarge = refusal(#"{"type": "object", "properties": {\#(properties)}}"#, options: small)
        #expect(tooLarge?.message.contains("maxGrammarBytes") == true, "\(String(describing: tooLarge))")
    }

    @Test func typicalSchemasCompileQuickly() throws {
        let properties = (0..<40).map { index in
            switch index % 4 {
            case 0: #""s\#(index)": {"type": "string", "maxLength": 80}"#
            case 1: #""i\#(index)": {"type": "integer", "minimum": 0, "maximum": 1000}"#
            case 2: #""e\#(index)": {"enum": ["a", "b", "c"]}"#
            default: ##""a\##(index)": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "maxItems": 10}"##
            }
        }.joined(separator: ", ")
        let schema = #"{"$defs": {"Item": {"type": "object", "properties": {"name": {"type": "string"}, "price": {"type": "number", "minimum": 0}}, "required": ["name"]}}, "type": "object", "properties": {\#(properties)}}"#
        let clock = ContinuousClock()
        _ = try JSONSchemaGrammar.gbnf(schema: schema)
        let elapsed = clock.measure { _ = try? JSONSchemaGrammar.gbnf(schema: schema) }
        // Generous for debug builds on a loaded machine; release takes well under a millisecond.
        #expect(elapsed < .milliseconds(200), "\(elapsed)")
    }
}

@Suite struct JSONValueTests {
    @Test func parsingKeepsMemberOrderAndNumberText() throws {
        let value = try JSONValue(parsing: #" {"z": 1.50, "a": [true, null, -0, 1e400], "m": {"k": "v"}} "#)
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["z", "a", "m"])
        #expect(value["z"] == .number("1.50"))
        #expect(value["a"] == .array([.bool(true), .null, .number("-0"), .number("1e400")]))
        #expect(value.text == #"{"z":1.50,"a":[true,null,-0,1e400],"m":{"k":"v"}}"#)
        #expect(value["missing"] == nil && value["m"]?["k"]?.stringValue == "v")
    }

    @Test func stringsDecodeAndReencode() throws {
        let value = try JSONValue(parsing: #""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u001f\u007f""#)
        #expect(value.stringValue == "a\"\\/\u{08}\u{0C}\n\r\té😀\u{1F}\u{7F}")
        #expect(value.text == #""a\"\\/\b\f\n\r\té😀\u001f\u007f""#)
        #expect(try JSONValue(parsing: value.text) == value)
    }

    @Test(arguments: [
        ("", "line 1, column 1"), ("[1,]", "line 1, column 4"), (#"{"a" 1}"#, "line 1, column 6"),
        ("[01]", "line 1, column 3"), ("[1.]", "line 1, column 4"), (#""\x""#, "line 1, column 3"),
        ("\"a\nb\"", "line 1, column 3"), (#""\ud800""#, "line 1, column 8"), ("[1] x", "line 1, column 5"),
        ("{\"a\": 1,\n \"a\": 2}", "line 2, column 2"), ("nul", "line 1, column 1"), ("[\"é\", ?]", "line 1, column 7"),
        (#"{"a": 1"#, "line 1, column 8"), ("NaN", "line 1, column 1"), ("// comment\n1", "line 1, column 1"),
    ])
    func malformedJSONIsLocated(text: String, location: String) {
        do {
            let value = try JSONValue(parsing: text)
            Issue.record("parsed \(value)")
        } catch {
            #expect(error.location == location, "\(text.debugDescription): \(error)")
        }
    }

    @Test func depthIsBounded() throws {
        #expect(throws: GrammarError.self) { try JSONValue(parsing: "[[[1]]]", maxDepth: 2) }
        #expect(try JSONValue(parsing: "[[[1]]]", maxDepth: 3) == .array([.array([.array([.number("1")])])]))
    }
}
