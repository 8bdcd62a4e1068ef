import Testing
import ChatTemplates

/// Expressions and statements, with outputs checked against jinja2.
@Suite struct EvaluatorTests {
    static let cases: [RenderCase] = [
        // Literals and printing
        RenderCase("{{ 'single' }} {{ \"double\" }} {{ 'a' 'b' }} {{ '\\t\\u00e9\\x41\\n' }}", "single double ab \téA\n"),
        RenderCase("{{ 42 }} {{ -7 }} {{ 3.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 1_000 }} {{ 0x10 }}", "42 -7 3.0 0.30000000000000004 1e+20 1e-05 1000 16"),
        RenderCase("{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", "True True False None None"),
        RenderCase("{{ [1, 'a', none, true, 2.5, {'k': \"it's\"}] }}", "[1, 'a', None, True, 2.5, {'k': \"it's\"}]"),
        RenderCase("{{ {'a': 1, 'b': [2]} }} {{ {1: 'int key'} }} {{ [] }} {{ {} }}", "{'a': 1, 'b': [2]} {1: 'int key'} [] {}"),
        // Arithmetic and precedence
        RenderCase("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 6 / 3 }}", "7 9 64 4 3 -4 2 3.5 2.0"),
        RenderCase("{{ 'ab' ~ 1 ~ none ~ true }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ true + 1 }}", "ab1NoneTrue ab [1, 2] abab 2"),
        // Comparisons and logic
        RenderCase("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ [1, 2] < [1, 3] }}", "True False True True True"),
        RenderCase("{{ 'ell' in 'hello' }} {{ 2 not in items }} {{ 'name' in user }} {{ 'x' in nope }}", "True False True False"),
        RenderCase("{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ not empty }}|{{ not 'a' in 'abc' }}|{{ n or 'dflt' }}", "x|b|True|False|dflt"),
        RenderCase("{{ 'y' if items else 'n' }}|{{ 'y' if empty else 'n' }}|{{ 'y' if false }}|{{ 1 if n is none else 2 }}", "y|n||1"),
        // Attribute, item, slices
        RenderCase("{{ user.name }} {{ user['name'] }} {{ user.tags[1] }} {{ user.tags[-1] }} {{ messages[0].role }}", "Ann Ann b b system"),
        RenderCase("{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ items[1:] }} {{ items[:-1] }} {{ items[::2] }} {{ 'héllo'[1] }}", "el olleh [1, 2] [3, 1] [3, 2] é"),
        RenderCase("[{{ missing }}][{{ user.missing }}][{{ items[10] }}][{{ user.missing is defined }}][{{ missing | default('d') }}]", "[][][][False][d]"),
        RenderCase("{{ n.anything is defined }} {{ 'text'.upper is defined }} {{ user.items is defined }}", "False True True"),
        // Loops
        RenderCase("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", "103TrueFalse3;212FalseFalse3;321FalseTrue3;"),
        RenderCase("{% for x in items %}[{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.cycle('a', 'b') }}]{% endfor %}", "[|1|a][3|2|b][1||a]"),
        RenderCase("{% for x in items if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in empty %}x{% else %}empty{% endfor %}", "3222|empty"),
        RenderCase("{% for k, v in user.items() %}{{ k }}={{ v }};{% endfor %}{% for k in user %}{{ k }}{% endfor %}", "name=Ann;tags=['a', 'b'];nametags"),
        RenderCase("{% for m in messages %}{% if m.role == 'user' %}{% continue %}{% endif %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m.role }} {% endfor %}", "system "),
        RenderCase("{% for i in range(3) %}{% for j in range(i) %}{{ i }}{{ j }}{{ loop.index }} {% endfor %}{% endfor %}", "101 201 212 "),
        // Assignment and scoping
        RenderCase("{% set x = 1 %}{% for i in items %}{% set x = i %}{{ x }}{% endfor %}{{ x }}{% if true %}{% set x = 5 %}{% endif %}{{ x }}", "31215"),
        RenderCase("{% set ns = namespace(total=0) %}{% for i in items %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}", "6"),
        RenderCase("{% set a, b = 'x', 'y' %}{{ b }}{{ a }}{% set block %} {{ a | upper }} {% endset %}[{{ block }}]", "yx[ X ]"),
        RenderCase("{% set messages = messages[1:] %}{{ messages | length }} {{ messages[0].role }}", "2 user"),
        // Macros, call and filter blocks
        RenderCase("{% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}{{ tag('b', 'bold') }}{{ tag(name='i') }}", "<b>bold</b><i></i>"),
        RenderCase("{% macro list(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(x) list(items) %}({{ x }}){% endcall %}", "(3)(1)(2)"),
        RenderCase("{% filter upper %}shout {{ user.name }}{% endfilter %}", "SHOUT ANN"),
        RenderCase("{% generation %}kept{% endgeneration %}", "kept"),
        // Tests
        RenderCase("{{ 1 is number }} {{ 'a' is string }} {{ user is mapping }} {{ items is iterable }} {{ n is none }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }}", "True True True True True True True True"),
        RenderCase("{{ items is sequence }} {{ 1 is iterable }} {{ true is boolean }} {{ 1 is integer }} {{ 1.0 is float }} {{ 2 is in items }} {{ 'abc' is lower }}", "True False True True True True True"),
        RenderCase("{{ x is defined }} {{ x is undefined }} {{ user.name is not none }} {{ 'a' is eq 'a' }} {{ 2 is gt 1 }}", "False True True True True"),
        // Globals
        RenderCase("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ dict(a=1) }} {{ strftime_now('%Y-%m-%d %b %A') }}", "[0, 1, 2] [1, 3, 5] {'a': 1} 2025-03-14 Mar Friday"),
    ]

    @Test(arguments: cases)
    func rendersLikeJinja2(_ c: RenderCase) throws {
        #expect(try render(c.source) == c.expected)
    }

    @Test func chatTemplateRendersMessages() throws {
        let template = try ChatTemplate(
            "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.name is defined %}"
                + "({{ m.name }}){% endif %}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
                + "{% if tools is none %}[no tools]{% endif %}")
        let messages = [
            ChatMessage(role: "system", content: "Be brief."),
            ChatMessage(role: "user", content: "Hi", fields: ["name": "ann"]),
        ]
        let text = try template.render(messages: messages, addGenerationPrompt: true, context: ["bos_token": "<s>"])
        // trim_blocks removes the newline right after `{% endif %}`.
        #expect(text == "<s><|system|>Be brief.<|user|>Hi(ann)<|assistant|>[no tools]")
        let withoutPrompt = try template.render(
            messageValues: [["role": "user", "content": "x"]], addGenerationPrompt: false,
            context: ["tools": [["type": "function"]]])
        #expect(withoutPrompt == "<|user|>x")
    }

    @Test func strftimeNowUsesTheGivenClock() throws {
        let text = try render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %-d, %Y %H:%M:%S %p %j %a') }}")
        #expect(text == "14 Mar 2025|March 14, 2025 09:26:53 AM 073 Fri")
    }

    @Test func deepTemplateNestingIsFine() throws {
        let depth = 150
        let source = String(repeating: "{% if true %}", count: depth) + "deep" + String(repeating: "{% endif %}", count: depth)
        #expect(try render(source) == "deep")
        let parens = String(repeating: "(", count: 60) + "1" + String(repeating: ")", count: 60)
        #expect(try render("{{ \(parens) }}") == "1")
    }

    @Test func pathologicalNestingIsASyntaxErrorNotACrash() {
        let deepest = 99
        let parens = String(repeating: "(", count: deepest) + "1" + String(repeating: ")", count: deepest)
        #expect(renderError("{{ \(parens) }}") == nil)
        let nots = String(repeating: "not ", count: 190) + "false"
        #expect(renderError("{{ \(nots) }}") == nil)
        let lists = String(repeating: "[", count: 99) + String(repeating: "]", count: 99)
        #expect(renderError("{{ \(lists) | length }}") == nil)
        for source in [
            "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}",
            String(repeating: "{% if true %}", count: 5000),
            "{{ " + String(repeating: "-", count: 5000) + "1 }}",
            "{{ x" + String(repeating: "|trim", count: 5000) + " }}",
        ] {
            #expect(renderError(source)?.kind == .syntax)
        }
    }
}

/// Whitespace control exactly as jinja2 with `trim_blocks=True, lstrip_blocks=True`.
@Suite struct WhitespaceTests {
    static let cases: [RenderCase] = [
        // trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before it goes
        RenderCase("<ul>\n  {% for x in items %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n", "<ul>\n  <li>3</li>\n  <li>1</li>\n  <li>2</li>\n</ul>"),
        RenderCase("{% if true %}\nyes\n{% endif %}\nafter", "yes\nafter"),
        RenderCase("{% if true %}  \nspaces after the tag stay{% endif %}", "  \nspaces after the tag stay"),
        // '-' strips all whitespace on that side, newlines included
        RenderCase("a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}\n  c", "abc"),
        RenderCase("{{- '  x  ' -}}   \n  {{ 'y' }}", "  x  y"),
        // '+' turns lstrip/trim off for that tag
        RenderCase("a\n  {%+ if true +%}\n  b\n  {%+ endif %}\nc", "a\n  \n  b\n  c"),
        // variable tags are never lstripped; comments are
        RenderCase("a\n    {{ 'x' }}\n  {# comment #}\nb {#- tight -#} c", "a\n    x\nbc"),
        // text before a tag on the same line keeps the indentation
        RenderCase("x  {% if true %}y{% endif %}\n  z {% if true %}w{% endif %}", "x  y  z w"),
        // raw blocks are copied verbatim
        RenderCase("{% raw %}{{ not a variable }}{% endraw %}", "{{ not a variable }}"),
        // CRLF and CR line endings are normalised, one trailing newline is dropped
        RenderCase("a\r\n  {% if true %}\r\nb\r\n  {% endif %}\r\nc\r\n", "a\nb\nc"),
        RenderCase("line\n\n", "line\n"),
    ]

    @Test(arguments: cases)
    func whitespaceLikeJinja2(_ c: RenderCase) throws {
        #expect(try render(c.source) == c.expected)
    }
}

/// Filters and Python methods, with outputs checked against jinja2.
@Suite struct FilterTests {
    static let cases: [RenderCase] = [
        // Text filters
        RenderCase("{{ '  pad  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'MiXed' | upper }}|{{ 'MiXed' | lower }}|{{ 'hello wORLD' | title }}|{{ 'hELLO' | capitalize }}", "pad|hi|MIXED|mixed|Hello World|Hello"),
        RenderCase("{{ 'a-b-a' | replace('a', 'x') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 42 | string }}|{{ n | string }}|{{ 'x' | safe }}|{{ '<b>&' | escape }}", "x-b-x|bba|42|None|x|&lt;b&gt;&amp;"),
        RenderCase("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent('> ', blank=true) }}", "a\n  b\n\n  c|  a\n  b|a\n> \n> b"),
        RenderCase("{{ '%s has %d' | format('Ann', 3) }}|{{ 'ab' | center(6) }}|{{ 'one two  three' | wordcount }}", "Ann has 3|  ab  |3"),
        // default / length / numbers
        RenderCase("{{ missing | default('d') }}|{{ n | default('d') }}|{{ '' | default('d', true) }}|{{ missing | d }}|", "d|None|d||"),
        RenderCase("{{ items | length }} {{ 'héllo' | length }} {{ user | count }} {{ missing | length }}", "3 5 2 0"),
        RenderCase("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(-1) }} {{ 4.7 | int }} {{ '2.5' | float }} {{ -3 | abs }}", "42 4 0 -1 4 2.5 3"),
        RenderCase("{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.567 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 3 | round }}", "2.0 4.0 2.57 3.0 3"),
        // Sequences
        RenderCase("{{ items | join }}|{{ items | join(', ') }}|{{ messages | join(' ', attribute='role') }}|{{ items | first }}|{{ items | last }}", "312|3, 1, 2|system user assistant|3|2"),
        RenderCase("{{ 'abc' | list }} {{ user | list }} {{ items | sort }} {{ items | sort(reverse=true) }} {{ items | reverse | list }} {{ items | min }} {{ items | max }} {{ items | sum }}", "['a', 'b', 'c'] ['name', 'tags'] [1, 2, 3] [3, 2, 1] [2, 1, 3] 1 3 6"),
        RenderCase("{{ ['b', 'A', 'a'] | unique | list }} {{ ['b', 'A', 'a'] | sort }} {{ ['b', 'A', 'a'] | sort(case_sensitive=true) }}", "['b', 'A'] ['A', 'a', 'b'] ['A', 'a', 'b']"),
        RenderCase("{{ messages | map(attribute='role') | list }} {{ items | map('string') | join('+') }} {{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | first }}", "['system', 'user', 'assistant'] 3+1+2 Hi"),
        RenderCase("{{ messages | rejectattr('role', 'in', ['system']) | list | length }} {{ items | select('odd') | list }} {{ items | reject('odd') | list }}", "2 [3, 1] [2]"),
        RenderCase("{% for k, v in {'b': 1, 'a': 2} | dictsort %}{{ k }}{{ v }}{% endfor %} {% for k, v in user | items %}{{ k }} {% endfor %}{{ items | batch(2) | list }}", "a2b1 name tags [[3, 1], [2]]"),
        // tojson (Hugging Face's: no HTML escaping, keys in insertion order)
        RenderCase("{{ user | tojson }}|{{ {'b': 1, 'a': [1.5, true, none]} | tojson(indent=2) }}|{{ '<é>\"' | tojson }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ [] | tojson(indent=2) }}", "{\"name\": \"Ann\", \"tags\": [\"a\", \"b\"]}|{\n  \"b\": 1,\n  \"a\": [\n    1.5,\n    true,\n    null\n  ]\n}|\"<é>\\\"\"|\"\\u00e9\"|{\"a\": 2, \"b\": 1}|[]"),
        // Methods on strings and dicts
        RenderCase("{{ '  x  '.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}", "x|['a', 'b', '', 'c']|['a', 'b']|['a', 'b,c']|['a,b', 'c']|True|True"),
        RenderCase("{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}|{{ \"it's a test\".title() }}|{{ 'aXb'.replace('X', '-') }}|{{ 'banana'.find('an') }} {{ 'banana'.rfind('an') }} {{ 'banana'.count('a') }}|{{ '-'.join(['a', 'b']) }}|{{ 'x'.rjust(3, '.') }}", "HIhi|It'S A Test|a-b|1 3 3|a-b|..x"),
        RenderCase("{{ user.get('name') }} {{ user.get('nope') }} {{ user.get('nope', 'dflt') }} {{ user.keys() | list }} {{ user.values() | list | length }}", "Ann None dflt ['name', 'tags'] 2"),
        RenderCase("{{ '{} and {name}'.format(1, name='two') }}|{{ '{:>5}|{:.2f}|{:03d}'.format('r', 3.14159, 7) }}|{{ '%s=%.1f%%' % ('p', 12.345) }}", "1 and two|    r|3.14|007|p=12.3%"),
    ]

    @Test(arguments: cases)
    func filtersLikeJinja2(_ c: RenderCase) throws {
        #expect(try render(c.source) == c.expected)
    }
}
