#!/usr/bin/env python3
"""Golden chat-template renderings for Brigade's ChatTemplates engine.

Renders every chat template (SmolLM2's and Qwen2.5-Coder-0.5B-Instruct's from their GGUFs (Gemma 3 270M, a base
model, has none), plus llama.cpp's models/templates/*.jinja) over a fixed set
of conversations with real `jinja2`, configured exactly as Hugging Face `transformers` does in
`apply_chat_template`:

    ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                  extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=False)
    globals["raise_exception"], globals["strftime_now"]

`strftime_now` uses a fixed instant (FIXED_NOW, UTC) so results are reproducible; each case records it as "now".
It also renders FEATURES, small synthetic templates that each exercise one engine feature (whitespace control,
operators, filters, tests, macros, errors, ...).
Writes $OUT/chat_templates/cases.json:
  {"generator": ..., "jinja2_version": ..., "cases": [
     {"template_name", "conversation", "template_source", "now", "context": {messages, tools, documents,
      add_generation_prompt, bos_token?, eos_token?, ...}, "expected_output" | "expected_error": {type, message}}],
   "feature_cases": [{"name", "template_source", "now", "context", "expected_output" | "expected_error"}]}
"""

import argparse
import datetime
import glob
import json
import os
import sys

import jinja2
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime.datetime(2025, 3, 14, 9, 26, 53)  # naive, interpreted as UTC by the Swift tests
FIXED_NOW_ISO = "2025-03-14T09:26:53Z"


class AssistantTracker(Extension):
    """Hugging Face's `{% generation %}` block; renders its body unchanged (no assistant mask requested)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def special_tokens(name):
    """(bos_token, eos_token) as the model's tokenizer_config would give them; None means not passed."""
    n = name.lower()
    table = [
        ("smollm2", ("<|im_start|>", "<|im_end|>")),
        ("deepseek", ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")),
        ("hermes-2-pro", ("<|begin_of_text|>", "<|im_end|>")),
        ("llama-3", ("<|begin_of_text|>", "<|eot_id|>")),
        ("firefunction", ("<|begin_of_text|>", "<|eot_id|>")),
        ("functionary", ("<|begin_of_text|>", "<|eot_id|>")),
        ("hermes-3", ("<|begin_of_text|>", "<|eot_id|>")),
        ("qwen", (None, "<|im_end|>")),
        ("qwq", (None, "<|im_end|>")),
        ("mistral", ("<s>", "</s>")),
        ("devstral", ("<s>", "</s>")),
        ("ministral", ("<s>", "</s>")),
        ("gemma", ("<bos>", "<eos>")),
        ("phi-3", ("<s>", "<|endoftext|>")),
        ("granite", ("<|end_of_text|>", "<|end_of_text|>")),
        ("cohere", ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>")),
        ("command-r", ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>")),
        ("gpt-oss", ("<|startoftext|>", "<|return|>")),
        ("smollm3", (None, "<|im_end|>")),
        ("glm", (None, "<|endoftext|>")),
        ("kimi", ("[BOS]", "[EOS]")),
        ("minimax", ("<s>", "</s>")),
    ]
    for key, tokens in table:
        if key in n:
            return tokens
    return ("<s>", "</s>")


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and country, e.g. Paris, France"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
            },
            "required": ["location"],
        },
    },
}
TOOL_CALL = {
    "id": "abc123XYZ",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"location": "Paris, France", "unit": "celsius"}},
}

TOOL_CALL_2 = {
    "id": "def456UVW",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"location": "Rome, Italy"}},
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current local time for an IANA time zone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
    },
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER1 = {"role": "user", "content": "Hello! How are you?"}
ASSISTANT1 = {"role": "assistant", "content": "I'm doing well, thank you. How can I help?"}
USER2 = {"role": "user", "content": "What is 2 + 2?"}

# (conversation name, messages, extra context, add_generation_prompt values)
CONVERSATIONS = [
    ("single_user", [USER1], {}, [True, False]),
    ("system_multi_turn", [SYSTEM, USER1, ASSISTANT1, USER2], {}, [True, False]),
    ("assistant_last", [USER1, ASSISTANT1], {}, [False]),
    (
        "unicode_whitespace",
        [
            {"role": "system", "content": "  Be concise.\n\n"},
            {"role": "user", "content": "  Héllo, 世界! 🌍\n\tTabs & \"quotes\" 'single' <b>tags</b> \\ back\\slash  \n"},
            {"role": "assistant", "content": "Ça va très bien — merci ✓\n"},
            {"role": "user", "content": "\n\nTrailing newlines\n\n"},
        ],
        {},
        [True],
    ),
    ("roles_not_alternating", [USER1, USER2], {}, [True]),
    ("empty_content", [{"role": "user", "content": ""}], {}, [True]),
    ("content_parts", [{"role": "user", "content": [{"type": "text", "text": "Describe this."}]}], {}, [True]),
    ("tools_first_turn", [{"role": "user", "content": "What's the weather in Paris?"}], {"tools": [WEATHER_TOOL]}, [True]),
    (
        "tool_call_round_trip",
        [
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "abc123XYZ", "name": "get_weather", "content": '{"temperature": 22}'},
        ],
        {"tools": [WEATHER_TOOL]},
        [True],
    ),
    ("thinking_disabled", [SYSTEM, USER1], {"enable_thinking": False}, [True]),
    ("thinking_enabled", [USER1], {"enable_thinking": True, "reasoning_effort": "high"}, [True]),
    ("system_only", [SYSTEM], {}, [True]),
    (
        "reasoning_content",
        [USER2, {"role": "assistant", "content": "4", "reasoning_content": "2 + 2 is 4."}, USER1],
        {},
        [True, False],
    ),
    (
        "parallel_tool_calls",
        [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL, TOOL_CALL_2]},
            {"role": "tool", "tool_call_id": "abc123XYZ", "name": "get_weather", "content": "22 C"},
            {"role": "tool", "tool_call_id": "def456UVW", "name": "get_weather", "content": "25 C"},
            {"role": "assistant", "content": "Paris: 22 C, Rome: 25 C."},
            {"role": "user", "content": "Thanks!"},
        ],
        {"tools": [WEATHER_TOOL, TIME_TOOL]},
        [True],
    ),
    (
        "string_tool_arguments",
        [
            {"role": "user", "content": "Time in Tokyo?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "ghi789RST",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"timezone": "Asia/Tokyo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "ghi789RST", "name": "get_time", "content": "18:00"},
        ],
        {"tools": [TIME_TOOL]},
        [True],
    ),
    (
        "builtin_tools",
        [{"role": "user", "content": "Search the web for jinja."}],
        {"builtin_tools": ["code_interpreter", "brave_search"], "tools": [WEATHER_TOOL]},
        [True],
    ),
    (
        "tools_in_system_message",
        [SYSTEM, {"role": "user", "content": "Weather?"}],
        {"tools": [WEATHER_TOOL], "tools_in_user_message": False, "date_string": "01 Feb 2025"},
        [True],
    ),
]


# Synthetic templates that exercise one engine feature each: (name, source, extra context). They render with
# FEATURE_CONTEXT plus the extra context; jinja2's output (or error) is the golden value.
FEATURE_CONTEXT = {
    "d": {"a": 1, "items": 5, "b": [1, 2], "name": "Zoë"},
    "l": [3, 1, 2],
    "s": "  Hello, World  ",
    "n": None,
    "users": [{"name": "ann", "age": 31, "tags": ["x"]}, {"name": "Bob", "age": 25}, {"name": "cid", "age": None}],
    "words": ["b", "A", "a", "c", "B"],
    "nested": {"k": {"inner": [10, 20, {"deep": "yes"}]}},
    "text": "line one\nline two\n\nline four",
}

FEATURES = [
    # Whitespace control, trim_blocks / lstrip_blocks.
    ("ws_block_lines", "a\n  {% if true %}\n    b\n  {% endif %}\nc\n", {}),
    ("ws_minus", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c", {}),
    ("ws_plus", "a\n  {%+ if true +%}\n  b\n  {%+ endif %}\nc", {}),
    ("ws_variable_no_lstrip", "a\n    {{ 'x' }}\n    {{- 'y' }}  {{ 'z' -}}  \n  w\n", {}),
    ("ws_comments", "a\n  {# note #}\nb {#- tight -#} c\n  {#- x #}\nd", {}),
    ("ws_inline_blocks", "x {% if true %}y{% endif %} z\n{% for i in l %}{{ i }}{% endfor %}\n", {}),
    ("ws_crlf", "a\r\n  {% if true %}\r\nb\r\n  {% endif %}\r\nc\r\n", {}),
    ("ws_cr_only", "a\r{% if true %}\rb\r{% endif %}\r", {}),
    ("ws_trailing_newlines", "text\n\n", {}),
    ("ws_unicode_space", "a\n\u3000\u00a0{% if true %}\nb\n{% endif %}", {}),
    ("ws_tabs", "\t\t{% for i in [1, 2] %}\n\t\t{{ i }}\n\t\t{% endfor %}\n", {}),
    ("ws_raw", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}|\n  {% raw -%}  x  {%- endraw %}\n", {}),
    ("ws_set_lines", "{% set x = 1 %}\n{% set y = 2 %}\n{{ x + y }}\n", {}),
    ("ws_nested_minus", "{%- for u in users -%}\n  {{- u.name -}}\n  {%- if not loop.last %}, {% endif -%}\n{%- endfor %}", {}),
    ("ws_block_after_var", "{{ 'a' }}   {% if true %}   b{% endif %}", {}),
    ("ws_line_starting", "{% if true %}\n   {% if true %}\nin\n   {% endif %}\n{% endif %}\n", {}),
    # Literals, operators, precedence.
    ("expr_arithmetic", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 1.5 + 1 }} {{ 10 / 4 * 2 }} {{ 2 ** -1 }} {{ 5 - -3 }} {{ +4 }}", {}),
    ("expr_floats", "{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-7 }} {{ 3.0 }} {{ 1 / 3 }} {{ 2.5e-5 }} {{ 123456789012345678.0 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 100.0 * 3 }} {{ -0.5 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }}", {}),
    ("expr_compare", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ 'B' < 'a' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 2 >= 2 }} {{ 'x' != 'y' }} {{ none == none }} {{ nope == nope }} {{ d == {'a': 1, 'items': 5, 'b': [1, 2], 'name': 'Zoë'} }}", {}),
    ("expr_membership", "{{ 'ell' in 'hello' }} {{ 'z' not in 'hello' }} {{ 2 in [1, 2] }} {{ 'a' in d }} {{ 'zz' in d }} {{ 1 in d.b }} {{ '' in 'x' }} {{ 'x' in nope }}", {}),
    ("expr_logic", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ none or [] }}|{{ not 0 }}|{{ not 'a' }}|{{ 1 and 0 or 5 }}|{{ not true and false }}|{{ n or d.a }}", {}),
    ("expr_ternary", "{{ 'y' if true else 'n' }}|{{ 'y' if false else 'n' }}|{{ 'y' if false }}|{{ ('a' if 0) is defined }}|{{ 1 if n is none else 2 }}|{{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("expr_strings", "{{ \"a\\tb\\n\\x41\\u00e9\\U0001F600\" }}|{{ 'it\\'s' }}|{{ \"q\\\"q\" }}|{{ 'a' \"b\" 'c' }}|{{ '\\\\' }}|{{ 'unknown \\q escape' }}|{{ '\\101' }}", {}),
    ("expr_concat", "{{ 'a' ~ 1 ~ none ~ true ~ nope ~ 1.5 ~ [1] }}|{{ 'a' + 'b' }}|{{ [1] + [2, 3] }}|{{ 'ab' * 3 }}|{{ [0] * 3 }}|{{ 3 * 'x' }}|{{ true + 1 }}", {}),
    ("expr_literals", "{{ [1, 'two', 3.0, none, true, {'k': [1]}, [], {}] }}|{{ {'a': 1, \"b\": 'x'} }}|{{ {1: 'one', 2.5: 'x', none: 0, true: 'T'} }}|{{ [1, 2,] }}", {}),
    ("expr_subscripts", "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1, 2, 3, 4][-2:] }} {{ [1, 2, 3][::2] }} {{ 'abc'[-1] }} {{ [1, 2, 3][5] }}|{{ l[1] }} {{ l[-1] }} {{ l[:-1] }} {{ l[10:] }} {{ 'abc'[1:] }} {{ s[2:7] }} {{ [1,2,3,4,5][4:1:-2] }} {{ 'héllo'[1] }}", {}),
    ("expr_attribute_item", "{{ d.a }} {{ d['a'] }} {{ d['items'] }} {{ d.items is defined }} {{ d.zz is defined }} {{ nested.k.inner[2].deep }} {{ nested['k']['inner'][0] }} {{ users[0].name }} {{ d.b.0 }} {{ n.x is defined }} {{ 'abc'.zz is defined }}", {}),
    ("expr_undefined_print", "[{{ nope }}][{{ d.zz }}][{{ l[9] }}][{{ nope | default('dflt') }}][{{ nope is defined }}][{{ nope | length }}][{% for x in nope %}x{% endfor %}]", {}),
    ("expr_repr", "{{ ['a\\tb\\x00é', 'it\\'s', \"\\u200b\", '\"q\"', '\\'\"', '🙂', '\\x7f', '\\u2028'] }}|{{ {'k': none, 'f': 1.0, 't': true} }}", {}),
    # Statements.
    ("stmt_for_loop_vars", "{% for x in l %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem }}/{{ loop.nextitem }}/{{ loop.cycle('o', 'e') }};{% endfor %}", {}),
    ("stmt_for_filter_else", "{% for u in users if u.age %}{{ u.name }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in l if x > 5 %}x{% else %}none{% endfor %}", {}),
    ("stmt_for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héy' %}[{{ c }}]{% endfor %}|{% for (a, b) in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}", {}),
    ("stmt_nested_loops", "{% for i in [1, 2] %}{% for j in 'ab' %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("stmt_break_continue", "{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 6 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("stmt_set_scoping", "{% set x = 0 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}[{{ x }}]{% if true %}{% set x = 9 %}{% endif %}[{{ x }}]", {}),
    ("stmt_set_loop_fresh", "{% for i in [1, 2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}[{{ y }}]", {}),
    ("stmt_namespace", "{% set ns = namespace(count=0, items=[]) %}{% for u in users %}{% set ns.count = ns.count + 1 %}{% set ns.items = ns.items + [u.name] %}{% endfor %}{{ ns.count }} {{ ns.items }} {{ ns.missing is defined }}{% set ns2 = namespace(d) %} {{ ns2.a }}", {}),
    ("stmt_set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c | length }}{% set (e, f) = ['x', 'y'] %}{{ e }}{{ f }}", {}),
    ("stmt_set_block", "{% set x %}  hi {{ 1 + 1 }} {% endset %}[{{ x }}]{% set y | upper | trim %}  shout  {% endset %}[{{ y }}]", {}),
    ("stmt_macro", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('ann') }}|{{ greet('bob', 'Hi') }}|{{ greet(name='cid', punct='?') }}|{{ greet() }}", {}),
    ("stmt_macro_varargs", "{% macro m(a) %}{{ a }}{{ varargs | list }}{{ varargs | length }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}", {}),
    ("stmt_macro_recursive", "{% macro walk(v) %}{% if v is mapping %}{{ '{' }}{% for k, x in v.items() %}{{ k }}:{{ walk(x) }}{% endfor %}{{ '}' }}{% elif v is iterable and v is not string %}[{% for x in v %}{{ walk(x) }},{% endfor %}]{% else %}{{ v }}{% endif %}{% endmacro %}{{ walk(nested) }}", {}),
    ("stmt_macro_globals", "{% set g = 1 %}{% macro m() %}{{ g }}{{ i }}{% endmacro %}{% set g = 2 %}{% for i in [5] %}{{ m() }}{% endfor %}", {}),
    ("stmt_call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 }}{% endcall %}|{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}", {}),
    ("stmt_filter_block", "{% filter upper %}abc {{ 'def' }}{% endfilter %}|{% filter replace('a', 'o') | trim %}  banana  {% endfilter %}", {}),
    ("stmt_with", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", {}),
    ("stmt_if_chain", "{% for v in [0, 1, 2, 3] %}{% if v == 0 %}zero{% elif v == 1 %}one{% elif v == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("stmt_generation", "{% generation %}assistant text{% endgeneration %}", {}),
    ("stmt_unknown_filter_in_if", "{% if false %}{{ x | from_json }}{% endif %}ok {{ 1 if true else (2 | nosuch) }}", {}),
    # Filters.
    ("filter_strings", "{{ s | trim }}|{{ 'xxaxx' | trim('x') }}|{{ s | upper }}|{{ s | lower }}|{{ 'hello wORLD-foo(bar' | title }}|{{ \"they're 1st\" | title }}|{{ 'aBC dEF' | capitalize }}|{{ 'a-b-a' | replace('a', 'x') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 42 | string }}|{{ none | string }}|{{ 'x' | safe }}", {}),
    ("filter_default", "{{ nope | default('d') }}|{{ none | default('d') }}|{{ '' | default('d', true) }}|{{ 0 | d('zero', boolean=true) }}|{{ d.zz | default(d.a) }}|{{ nope | default }}|", {}),
    ("filter_length", "{{ l | length }} {{ 'héllo' | length }} {{ d | count }} {{ [] | length }} {{ nope | length }} {{ '🙂👍' | length }}", {}),
    ("filter_join", "{{ l | join }}|{{ l | join(', ') }}|{{ users | join(', ', attribute='name') }}|{{ 'abc' | join('-') }}|{{ [1, none, 'x'] | join('/') }}", {}),
    ("filter_first_last", "{{ l | first }} {{ l | last }} {{ 'abc' | first }} {{ 'abc' | last }} {{ d | first }} {{ [] | first is defined }}", {}),
    ("filter_list_items", "{{ 'abc' | list }} {{ d | list }} {{ d | items | map('list') | list }} {{ l | list }} {% for k, v in d | items %}{{ k }}{% endfor %}", {}),
    ("filter_dictsort", "{{ {'b': 1, 'A': 2, 'a': 3} | dictsort | map('join', '=') | join(',') }}|{{ {'b': 1, 'A': 2, 'a': 3} | dictsort(true) | map('join', '=') | join(',') }}|{{ {'x': 2, 'y': 1} | dictsort(by='value') | map('first') | join }}|{{ {'x': 2, 'y': 1} | dictsort(reverse=true) | map('last') | join }}", {}),
    ("filter_map_select", "{{ users | map(attribute='name') | list }}|{{ users | map(attribute='age', default=0) | list }}|{{ l | map('string') | join(',') }}|{{ words | map('upper') | list }}|{{ users | selectattr('age') | map(attribute='name') | list }}|{{ users | rejectattr('age', 'none') | map(attribute='name') | join }}|{{ users | selectattr('name', 'equalto', 'Bob') | list }}|{{ l | select('odd') | list }}|{{ l | reject('odd') | list }}|{{ [0, 1, '', 'x'] | select | list }}|{{ users | selectattr('tags', 'defined') | list | length }}|{{ nested | attr('k') }}", {}),
    ("error_map_path_through_undefined", "{{ users | map(attribute='tags.0') | list }}", {}),
    ("filter_sort_unique", "{{ l | sort }}|{{ l | sort(reverse=true) }}|{{ words | sort }}|{{ words | sort(case_sensitive=true) }}|{{ users | sort(attribute='name') | map(attribute='name') | join }}|{{ words | unique | list }}|{{ words | unique(case_sensitive=true) | list }}|{{ [1, 1.0, true, 2] | unique | list }}|{{ l | min }} {{ l | max }} {{ words | max }} {{ l | sum }} {{ users | sum(attribute='age', start=0) if false else 1 }}|{{ l | reverse | list }} {{ 'abc' | reverse }}", {}),
    ("filter_numbers", "{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.567 | round(2) }} {{ 2.675 | round(2) }} {{ 1234.5 | round(-2) }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }} {{ 3 | round }} {{ -3 | abs }} {{ -2.5 | abs }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 4.7 | int }} {{ ' 12 ' | int }} {{ '0x1A' | int(0, 16) }} {{ '3.5' | float }} {{ 'x' | float }} {{ 2 | float }} {{ true | int }} {{ none | int }}", {}),
    ("filter_indent", "[{{ text | indent }}]|[{{ text | indent(2, true) }}]|[{{ text | indent(2, blank=true) }}]|[{{ text | indent('> ') }}]|[{{ 'single' | indent(first=true) }}]", {}),
    ("filter_tojson", "{{ d | tojson }}|{{ users | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}|{{ {} | tojson(indent=2) }}|{{ 'é\\u2028\\x01\"\\\\/' | tojson }}|{{ 1.0 | tojson }}|{{ none | tojson }}|{{ {'b': 1, 'a': [true, false]} | tojson(sort_keys=true) }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ '🙂' | tojson(true) }}|{{ [1, 2] | tojson(separators=[',', ':']) }}|{{ {1: 'x', none: 2} | tojson }}|{{ d | tojson(indent='\\t') }}", {}),
    ("filter_misc", "{{ 'hello world foo' | wordcount }}|{{ 'ab' | center(6) }}|{{ '%s-%d' | format('a', 3) }}|{{ l | batch(2) | list }}|{{ d | attr('a') }}|{{ '<a href=\"x\">&' | escape }}|{{ '<b>' | e }}", {}),
    ("filter_chained_safe", "{{ 'a' | safe + '<b>' }}|{{ '<i>' + 'x' | safe }}|{{ ('q' | safe + '&') | upper }}", {}),
    # Tests.
    ("tests_types", "{{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is integer }} {{ true is boolean }} {{ 'x' is string }} {{ d is mapping }} {{ l is sequence }} {{ 'x' is iterable }} {{ d is iterable }} {{ 1 is iterable }} {{ none is none }} {{ nope is undefined }} {{ none is defined }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ range is callable }} {{ d.get is callable }} {{ 'x' is callable }} {{ nope is iterable }}", {}),
    ("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is eq 2 }} {{ 2 is equalto(3) }} {{ 2 is ne 3 }} {{ 1 is lt 2 }} {{ 2 is gt 1 }} {{ 2 is ge 2 }} {{ 2 is le 1 }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aB' is lower }} {{ 2 is in [1, 2] }} {{ none is sameas none }} {{ 'x' is not string }} {{ 'upper' is filter }} {{ 'nope' is test }}", {}),
    # Methods.
    ("methods_strings", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xyx'.strip('x') }}|{{ 'a b  c'.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ '  a  b  '.split(None, 1) }}|{{ text.splitlines() }}|{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }}|{{ 'Abc'.upper() }}{{ 'Abc'.lower() }}|{{ \"they're bill's\".title() }}|{{ 'hello'.capitalize() }}|{{ 'aaa'.replace('a', 'b', 1) }}|{{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('b') }} {{ 'aaaa'.count('aa') }}|{{ '-'.join(['a', 'b']) }}|{{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }}|{{ 'x'.ljust(3, '.') }}{{ 'x'.rjust(3) }}{{ 'x'.center(4, '*') }}{{ '7'.zfill(3) }}|{{ 'prefix-x'.removeprefix('prefix-') }}", {}),
    ("methods_format", "{{ '{} and {}'.format(1, 'b') }}|{{ '{1}{0}'.format('a', 'b') }}|{{ '{name}!'.format(name='x') }}|{{ '{{literal}} {}'.format(2) }}|{{ '{:>5}|{:<4}|{:^5}|{:05d}|{:.2f}|{!r}'.format('a', 'b', 'c', 42, 3.14159, 'q') }}|{{ '%s is %d%%' % ('x', 5) }}|{{ '%5.1f|%-4s|%03d|%x' % (2.25, 'ab', 7, 255) }}|{{ '%(a)s' % {'a': 1} }}|{{ 'hi %s' % 'there' }}", {}),
    ("methods_dicts", "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 3) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | map('list') | list }} {{ d.b.index(2) }} {{ [1, 1, 2].count(1) }}", {}),
    # Globals.
    ("globals_range", "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }} {{ range(2, 2) | list }} {% for i in range(3) %}{{ i }}{% endfor %}", {}),
    ("globals_dict_strftime", "{{ dict(a=1, b='x') }} {{ dict({'z': 0}, y=1) }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %-d, %Y (%A, %a) %I%p %j %y') }}", {}),
    ("globals_raise", "before{{ raise_exception('custom failure: ' ~ d.a) }}after", {}),
    # Edge cases.
    ("edge_ws_positions", "   {% if true %}x{% endif %}\n{{ 'v' }}\n   {% if true %}y{% endif %}\nabc {# c #}\n{% if true %}  \nz{% endif %}", {}),
    ("edge_ws_delimiters_in_strings", "{{ '{{' }}{{ \"%}\" }}{{ '}}' }}{% set x = {'a': {'b': 1}} %}{{ x.a.b }}{{ {'k': {'j': 2}}['k'] }}{# a - b #}|{%- set y = {'a': 1} -%} {{ y }}", {}),
    ("edge_ws_start_minus", "{{- '  a' -}}  \n  {{- ' b ' }}", {}),
    ("edge_precedence", "{{ not 'a' in 'abc' }} {{ nope is not defined and true }} {{ -3 | abs }} {{ -(3 | abs) }} {{ nope | default('xy') | length }} {{ 1 if false else 2 if false else 3 }} {{ (0 or 2) and 'c' }} {{ 2 * 3 ~ 4 }} {{ 'a' ~ (1 + 2) }} {{ 10 - 2 - 3 }} {{ 2 ** 2 * 3 }} {{ 'ab' in 'cab' == true }}", {}),
    ("edge_numbers", "{{ 10 // 3.0 }} {{ -10 % 3.0 }} {{ 2 ** 0.5 }} {{ 4 ** 0.5 }} {{ 6 / 3 }} {{ 2 ** 62 }} {{ 1e308 * 10 }} {{ -1e308 * 10 }} {{ 0.1 * 3 }} {{ 1 / 7 }} {{ 5e-324 }} {{ 1.7976931348623157e308 }} {{ 9007199254740993 }} {{ 12345678901234567890.0 }}", {}),
    ("edge_undefined", "[{{ nope | upper }}][{{ nope ~ nope }}][{{ nope | trim }}][{{ nope | string }}][{{ nope | list }}][{{ nope | join }}][{{ nope | first }}][{{ nope | items | list }}][{{ nope is none }}][{% set x = nope %}{{ x is defined }}][{{ [nope] }}][{{ nope == none }}][{{ nope | select | list }}][{{ nope | sort }}][{{ nope | count }}][{{ nope in [1] }}][{{ 'a' in nope }}][{{ (nope or 'x') }}][{{ d.zz | default('q') }}][{{ nope | unique | list }}][{{ nope | reverse | list }}]", {}),
    ("edge_methods", "{{ 'a b'.split(' ') }}{{ ''.split() }}{{ ''.split(',') }}{{ 'abc'.strip('') }}{{ 'x'.startswith('') }}{{ ' '.join(['a', 'b']) }}{{ 'a\\r\\nb\\rc'.splitlines() }}{{ 'Hello'.lower().startswith('he') }}{{ 'a-b'.split('-')[1] }}{{ 'abc'.upper()[::-1] }}{{ 'tEST'.swapcase() }}{{ '  x '.strip().upper() }}", {}),
    ("edge_filters", "[{{ '' | indent(first=true) }}][{{ 'x' | center(1) }}][{{ [] | max }}][{{ [1.5, 2] | sum }}][{{ 'abc' | unique | list }}][{{ {'a': 1} | list }}][{{ 5 | string | length }}][{{ 'ABC' | lower | title }}][{{ 3.7 | round | int }}][{{ 10 | round(-1) }}][{{ -0.5 | round }}][{{ 0.5 | round }}][{{ 1.005 | round(2) }}][{{ 2.5 | round(0, 'floor') }}][{{ 'abc' | replace('', '-') }}][{{ 'x' | first }}][{{ users | map(attribute='name') | map('upper') | join(',') }}][{{ [1, 2, 3] | select('gt', 1) | list }}][{{ [1, 2, 3] | reject('in', [2]) | list }}][{{ words | map('lower') | unique | list }}][{{ l | join(attribute=none) }}]", {}),
    ("edge_tojson", "{{ 'a' | tojson(indent=0) }}|{{ {'a': [1, {'b': []}]} | tojson(indent=0) }}|{{ 1e100 | tojson }}|{{ 123.0 | tojson }}|{{ (1e308 * 10 - 1e308 * 10) | tojson }}|{{ (1e308 * 10) | tojson }}|{{ true | tojson }}|{{ [none, 1.5, 'x\\ty'] | tojson(indent=1) }}|{{ nested | tojson(separators=(',', ':'), indent=2) }}|{{ 'é🙂' | tojson(ensure_ascii=true) }}|{{ {'é': 'ü'} | tojson }}", {}),
    ("edge_tests", "{{ none is mapping }} {{ [] is sequence }} {{ 'a' is sequence }} {{ 1.0 is integer }} {{ 1 is float }} {{ d is sequence }} {{ 1 is sequence }} {{ none is iterable }} {{ (l | select) is iterable }} {{ (l | select) is sequence }} {{ 0 is even }} {{ -3 is odd }} {{ 3.0 is odd }} {{ 'Ab' is upper }} {{ '1' is lower }} {{ nope is boolean }} {{ false is sameas false }}", {}),
    ("edge_macro_defaults", "{% macro m(a, b=a ~ '!', c=none) %}{{ a }}{{ b }}{{ c }}{{ caller is defined }}{% endmacro %}{{ m(1) }}|{{ m('x', c=2) }}{% macro outer(x) %}<{{ inner(x) }}>{% endmacro %}{% macro inner(y) %}{{ y * 2 }}{% endmacro %}|{{ outer(3) }}|{{ outer(4) | trim }}", {}),
    ("edge_format_filter", "{{ '%.3f' | format(3.14159) }}|{{ '%d items' | format(3) }}|{{ '%s/%s' | format('a', none) }}|{{ '%(x)s!' | format(x=1) }}|{{ '%5s|%-5s|' | format('ab', 'cd') }}|{{ '%+d %i %e' | format(5, 6, 12345.678) }}", {}),
    ("edge_message_like", "{% for m in msgs %}{{ m.role | upper }}:{{ m.content | trim }}:{{ m.content is string }}:{{ m.get('name', 'anon') }}|{% endfor %}", {"msgs": [{"role": "user", "content": "  hi  "}, {"role": "assistant", "content": None, "name": "bot"}]}),
    ("edge_loop_misc", "{% for x in [1, 2, 3] %}{{ loop.depth }}{{ loop.depth0 }}{% for y in [x] %}{{ loop.index }}{{ loop.cycle('a', 'b', 'c') }}{% endfor %}{% endfor %}|{% for x in 'ab' %}{% for y in 'cd' %}{% if y == 'd' %}{% break %}{% endif %}{{ x }}{{ y }}{% endfor %}{% endfor %}|{% for i in range(3) %}{% set acc = i %}{{ acc }}{% endfor %}", {}),
    ("edge_namespace_in_macro", "{% set ns = namespace(n=0) %}{% macro bump() %}{% set ns.n = ns.n + 1 %}{% endmacro %}{{ bump() }}{{ bump() }}{{ ns.n }}", {}),
    ("edge_set_shadowing", "{% set messages = msgs[1:] %}{{ messages | length }}{% set l = l + [9] %}{{ l }}{% set d = d.b %}{{ d }}", {"msgs": [1, 2, 3]}),
    ("edge_string_index_unicode", "{{ 'naïve café'[2] }}{{ 'naïve café'[-4:] }}{{ '🙂x'[0] }}{{ '🙂x' | length }}{{ 'e\\u0301' | length }}{{ 'ÅB'.lower() }}{{ 'ß'.upper() }}", {}),
    # Errors (jinja2 raises; the engine must raise too).
    ("error_undefined_chain_defined_test", "{{ nope.x is defined }}", {}),
    ("error_undefined_in_if", "{% if d.zz.yy %}x{% endif %}", {}),
    ("error_undefined_subscript", "{{ nope[0] }}", {}),
    ("error_undefined_method", "{{ nope.get('x') }}", {}),
    ("error_undefined_arithmetic", "{{ nope * 2 }}", {}),
    ("error_undefined_compare", "{{ nope < 1 }}", {}),
    ("error_undefined_negate", "{{ -nope }}", {}),
    ("error_undefined_int", "{{ nope | int }}", {}),
    ("error_one_plus_concat", "{{ 1 + 2 ~ 3 }}", {}),
    ("error_sort_mixed", "{{ [3, 'a'] | sort }}", {}),
    ("error_selectattr_none_compare", "{{ users | selectattr('age', 'gt', 26) | list }}", {}),
    ("error_set_ns_undefined", "{% set ns.a = 1 %}", {}),
    ("error_call_string", "{{ 'abc'() }}", {}),
    ("error_unknown_method", "{{ 'abc'.nosuch() }}", {}),
    ("error_dict_pop", "{{ d.pop('a') }}", {}),
    ("error_macro_recursion", "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", {}),
    ("error_missing_endmacro", "{% macro m() %}x", {}),
    ("error_else_twice", "{% if true %}a{% else %}b{% else %}c{% endif %}", {}),
    ("error_bad_for", "{% for in l %}{% endfor %}", {}),
    ("error_unbalanced_paren", "{{ (1 + 2 }}", {}),
    ("error_unexpected_close", "{{ 1 ) }}", {}),
    ("error_undefined_attribute", "{{ nope.attr }}", {}),
    ("error_add_int_str", "{{ 1 + 'a' }}", {}),
    ("error_add_str_int", "{{ 'a' + 1 }}", {}),
    ("error_unknown_filter", "{{ 'x' | nosuchfilter }}", {}),
    ("error_unknown_filter_in_macro", "{% macro m() %}{{ x | from_json }}{% endmacro %}ok", {}),
    ("error_unknown_test", "{{ 1 is nosuchtest }}", {}),
    ("error_unknown_tag", "{% frobnicate %}", {}),
    ("error_unclosed_if", "{% if true %}open", {}),
    ("error_unclosed_for", "{% for x in l %}{{ x }}", {}),
    ("error_unmatched_end", "{% endif %}", {}),
    ("error_bad_expression", "{{ 1 + }}", {}),
    ("error_unclosed_variable", "{{ 'a' ", {}),
    ("error_unclosed_comment", "{# never closed", {}),
    ("error_unclosed_string", "{{ 'abc }}", {}),
    ("error_call_undefined", "{{ nope() }}", {}),
    ("error_list_append", "{% set x = [] %}{{ x.append(1) }}", {}),
    ("error_dict_update", "{{ d.update({'q': 1}) }}", {}),
    ("error_range_too_big", "{{ range(1000000) | length }}", {}),
    ("error_division_by_zero", "{{ 1 / 0 }}", {}),
    ("error_modulo_zero", "{{ 1 % 0 }}", {}),
    ("error_not_iterable", "{% for x in 42 %}{% endfor %}", {}),
    ("error_none_iterable", "{% for x in n %}{% endfor %}", {}),
    ("error_tojson_undefined", "{{ nope | tojson }}", {}),
    ("error_tojson_generator", "{{ l | map('string') | tojson }}", {}),
    ("error_length_generator", "{{ l | select('odd') | length }}", {}),
    ("error_compare_types", "{{ 1 < 'a' }}", {}),
    ("error_macro_too_many_args", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", {}),
    ("error_macro_bad_kwarg", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=2) }}", {}),
    ("error_namespace_assign", "{% set x = 1 %}{% set x.y = 2 %}", {}),
    ("error_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("error_neg_string", "{{ -'a' }}", {}),
    ("error_break_outside_loop", "{% break %}", {}),
    ("error_do_tag", "{% do l.append(1) %}", {}),
    ("error_include", "{% include 'other.jinja' %}", {}),
    ("error_join_non_string", "{{ ', '.join([1, 2]) }}", {}),
    ("error_items_not_mapping", "{{ l | items | list }}", {}),
    ("error_int_overflow_guard", "{{ 'x' * 100000000000 }}", {}),
]


def smollm2_template(model_path):
    import gguf

    reader = gguf.GGUFReader(model_path)
    field = reader.fields["tokenizer.chat_template"]
    return field.contents()


def gguf_template(model):
    """The chat template of one of the models scripts/fetch-model installs (fetched first if needed)."""
    import subprocess

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tokenizers_golden import read_metadata

    here = os.path.dirname(os.path.abspath(__file__))
    path = subprocess.run([os.path.join(here, "..", "fetch-model"), model, "--print"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    return read_metadata(path, prefix="tokenizer.chat_template")["tokenizer.chat_template"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--llama", required=True)
    args = ap.parse_args()

    templates = [
        ("SmolLM2-135M-Instruct", smollm2_template(args.model)),
        ("Qwen2.5-Coder-0.5B-Instruct", gguf_template("qwen2.5-coder")),
    ]
    for path in sorted(glob.glob(os.path.join(args.llama, "templates", "*.jinja"))):
        with open(path, encoding="utf-8", newline="") as f:
            templates.append((os.path.basename(path)[: -len(".jinja")], f.read()))

    env = make_environment()
    cases = []
    for name, source in templates:
        bos, eos = special_tokens(name)
        try:
            compiled = env.from_string(source)
            compile_error = None
        except Exception as e:  # the template itself is invalid for jinja2: every case expects that error
            compiled = None
            compile_error = {"type": type(e).__name__, "message": str(e)}
        for conversation, messages, extra, prompts in CONVERSATIONS:
            for add_generation_prompt in prompts:
                context = {
                    "messages": messages,
                    "tools": extra.get("tools"),
                    "documents": None,
                    "add_generation_prompt": add_generation_prompt,
                }
                if bos is not None:
                    context["bos_token"] = bos
                if eos is not None:
                    context["eos_token"] = eos
                for key, value in extra.items():
                    if key != "tools":
                        context[key] = value
                case = {
                    "template_name": name,
                    "conversation": conversation,
                    "template_source": source,
                    "now": FIXED_NOW_ISO,
                    "context": context,
                }
                if compile_error is not None:
                    case["expected_error"] = compile_error
                else:
                    try:
                        case["expected_output"] = compiled.render(**json.loads(json.dumps(context)))
                    except Exception as e:
                        case["expected_error"] = {"type": type(e).__name__, "message": str(e)}
                cases.append(case)

    feature_cases = []
    for name, source, extra in FEATURES:
        context = dict(FEATURE_CONTEXT)
        context.update(extra)
        case = {"name": name, "template_source": source, "now": FIXED_NOW_ISO, "context": context}
        try:
            case["expected_output"] = env.from_string(source).render(**json.loads(json.dumps(context)))
        except Exception as e:
            case["expected_error"] = {"type": type(e).__name__, "message": str(e)}
        feature_cases.append(case)

    out_dir = os.path.join(args.out, "chat_templates")
    os.makedirs(out_dir, exist_ok=True)
    document = {
        "generator": "scripts/testdata/chat_templates.py",
        "jinja2_version": jinja2.__version__,
        "cases": cases,
        "feature_cases": feature_cases,
    }
    with open(os.path.join(out_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases if "expected_error" in c)
    print(f"chat_templates: {len(cases)} cases from {len(templates)} templates ({errors} expect an error), "
          f"{len(feature_cases)} feature cases", file=sys.stderr)


if __name__ == "__main__":
    main()
