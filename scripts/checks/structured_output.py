#!/usr/bin/env python3
"""Drives `brigade serve` through structured output and tool calling with the official `openai` client and LangChain,
as applications use them.

    scripts/checks/structured_output.py BASE_URL

Checks: `chat.completions.parse` with a Pydantic model; `response_format` json_schema (every output validates with
`jsonschema`) and json_object; vLLM's guided_choice / guided_regex / guided_json and llama.cpp's `grammar` extras; a
schema cut by max_tokens (finish_reason "length", `parse` raises); tools with tool_choice required / named / auto,
streamed and not (the streamed deltas accumulate to the same calls); a conversation continued with the tool's result;
tools together with response_format; bad schemas, grammars and tool choices answered with a 400 naming the field;
LangChain's `with_structured_output` and `bind_tools`. Prints "all checks passed" and exits 0, or names the first
failure.
"""
import json, re, sys
from typing import Literal, Optional

import jsonschema
import openai
from pydantic import BaseModel, Field

from checklib import Checks

base = sys.argv[1].rstrip("/")
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
model = client.models.list().data[0].id
check = Checks()


def chat(messages, **kwargs):
    return client.chat.completions.create(model=model, messages=messages, temperature=0, **kwargs)


def refused(what, field, **kwargs):
    try:
        chat([{"role": "user", "content": "hi"}], max_tokens=4, **kwargs)
    except openai.BadRequestError as error:
        message = str(error)
        check(field in message, f"{what}: the 400 names {field}: {message}")
        return
    sys.exit(f"FAILED: {what} was accepted")


class City(BaseModel):
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)
    population: int = Field(ge=0)
    continent: Literal["Africa", "Asia", "Europe", "North America", "Oceania", "South America"]
    landmarks: list[str] = Field(max_length=3)
    capital: Optional[bool] = None


ask = [{"role": "user", "content": "Describe Paris as JSON."}]

# chat.completions.parse with a Pydantic model: the client builds a strict json_schema and parses the reply.
completion = client.chat.completions.parse(model=model, messages=ask, response_format=City, temperature=0, max_tokens=200)
city = completion.choices[0].message.parsed
check(isinstance(city, City), f"parse() gives a City: {completion.choices[0].message.content!r}")
check(completion.choices[0].finish_reason == "stop", f"finish_reason {completion.choices[0].finish_reason}")
jsonschema.validate(json.loads(completion.choices[0].message.content), City.model_json_schema())

# A schema the model cannot finish within max_tokens ends with "length", which parse() reports.
try:
    client.chat.completions.parse(model=model, messages=ask, response_format=City, temperature=0, max_tokens=5)
    sys.exit("FAILED: parse() with max_tokens 5 should raise LengthFinishReasonError")
except openai.LengthFinishReasonError:
    check.passed()

# json_schema outputs validate, sampled as well as greedy.
schemas = {
    "weather": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
                "unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                "required": ["city", "unit", "days"]},
    "tags": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{2,12}$"},
             "minItems": 1, "maxItems": 4}}, "required": ["tags"]},
    "event": {"type": "object", "properties": {"title": {"type": "string", "maxLength": 50}, "date": {"type": "string", "format": "date"},
              "attendees": {"type": "array", "items": {"$ref": "#/$defs/person"}, "maxItems": 3}}, "required": ["title", "date"],
              "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30},
                        "email": {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "null"}]}}, "required": ["name"]}}},
}
for name, schema in schemas.items():
    for temperature in (0, 0.9):
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"Give me a {name} example as JSON."}],
                                               temperature=temperature, seed=3, max_tokens=200,
                                               response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
        text = reply.choices[0].message.content
        check(reply.choices[0].finish_reason == "stop", f"{name} at T={temperature} stopped: {reply.choices[0].finish_reason} {text!r}")
        try:
            jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(json.loads(text))
        except Exception as error:
            sys.exit(f"FAILED: {name} at T={temperature}: {text!r} does not validate: {error}")
        check.passed()

# json_object: any object (a small model may ramble inside one until max_tokens; then the text is its beginning).
reply = chat([{"role": "user", "content": "Give me a JSON object with your name."}], max_tokens=120, response_format={"type": "json_object"})
text = reply.choices[0].message.content
if reply.choices[0].finish_reason == "stop":
    check(isinstance(json.loads(text), dict), f"json_object: {text!r}")
else:
    check(text.lstrip().startswith("{") and reply.usage.completion_tokens == 120, f"json_object cut by max_tokens: {text!r}")

# The vLLM and llama.cpp extras.
reply = chat([{"role": "user", "content": "Is the sky blue?"}], max_tokens=8, extra_body={"guided_choice": ["yes", "no"]})
check(reply.choices[0].message.content in ("yes", "no"), f"guided_choice: {reply.choices[0].message.content!r}")
reply = chat([{"role": "user", "content": "Give me a product code."}], max_tokens=12, extra_body={"guided_regex": "[A-Z]{3}-[0-9]{4}"})
check(re.fullmatch(r"[A-Z]{3}-[0-9]{4}", reply.choices[0].message.content), f"guided_regex: {reply.choices[0].message.content!r}")
reply = chat([{"role": "user", "content": "Count to three."}], max_tokens=16, extra_body={"grammar": 'root ::= "one, two, three" | [0-9]+'})
check(reply.choices[0].message.content == "one, two, three" or reply.choices[0].message.content.isdigit(), f"grammar: {reply.choices[0].message.content!r}")
reply = chat(ask, max_tokens=200, extra_body={"guided_json": City.model_json_schema()})
City.model_validate_json(reply.choices[0].message.content)

# Streaming under a schema gives the same text as not streaming.
city_format = {"type": "json_schema", "json_schema": {"name": "city", "schema": City.model_json_schema()}}
whole = chat(ask, max_tokens=200, response_format=city_format).choices[0].message.content
stream = chat(ask, max_tokens=200, response_format=city_format, stream=True)
streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
check(streamed == whole, f"streamed {streamed!r} vs {whole!r}")

# Tools.
weather = {"type": "function", "function": {"name": "get_weather", "description": "The current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city", "unit"]}}}
search = {"type": "function", "function": {"name": "web_search", "description": "Search the web",
          "parameters": {"type": "object", "properties": {"query": {"type": "string", "maxLength": 60},
                         "results": {"type": "integer", "minimum": 1, "maximum": 10}}, "required": ["query"]}}}
tools = [weather, search]
question = [{"role": "user", "content": "What is the weather like in Paris today?"}]


def calls_of(reply):
    return [(c.function.name, json.loads(c.function.arguments)) for c in reply.choices[0].message.tool_calls or []]


for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
    reply = chat(question, tools=tools, tool_choice=choice, max_tokens=160)
    calls = calls_of(reply)
    # A small model may go on calling until max_tokens cuts it: the complete calls are returned, with "length".
    check(reply.choices[0].finish_reason in ("tool_calls", "length") and calls, f"tool_choice {choice}: {reply.choices[0]}")
    for name, arguments in calls:
        schema = {"get_weather": weather, "web_search": search}[name]["function"]["parameters"]
        jsonschema.validate(arguments, schema)
        check(name == "get_weather" or choice == "required", f"the named function is called: {name}")
    ids = [c.id for c in reply.choices[0].message.tool_calls]
    check(all(i.startswith("call_") for i in ids) and len(set(ids)) == len(ids), f"call ids {ids}")
    # Streamed: the deltas accumulate (index, id and name once, argument fragments) to the same calls.
    chunks = list(chat(question, tools=tools, tool_choice=choice, max_tokens=160, stream=True))
    assembled = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = assembled.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            if delta.id:
                check(entry["id"] is None, "a call's id is sent once")
                entry["id"] = delta.id
            if delta.function and delta.function.name:
                check(entry["name"] is None, "a call's name is sent once")
                entry["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
    streamed_calls = [(e["name"], json.loads(e["arguments"])) for _, e in sorted(assembled.items())][:len(calls)]
    check(streamed_calls == calls, f"streamed calls {streamed_calls} vs {calls}")
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason][-1].choices[0].finish_reason
    check(finish == reply.choices[0].finish_reason, f"streamed finish_reason {finish}")

# parallel_tool_calls false: exactly one call.
reply = chat([{"role": "user", "content": "Weather in Paris and in Rome?"}], tools=tools, tool_choice="required",
             parallel_tool_calls=False, max_tokens=120)
check(len(reply.choices[0].message.tool_calls) == 1, f"one call without parallel calls: {reply.choices[0].message.tool_calls}")

# auto: whatever the model does has the right shape; tool_choice none: no calls.
reply = chat(question, tools=tools, max_tokens=120)
check(reply.choices[0].finish_reason in ("tool_calls", "stop", "length"), f"auto: {reply.choices[0]}")
if reply.choices[0].message.tool_calls:
    check(reply.choices[0].finish_reason == "tool_calls", "auto calls end with tool_calls")
reply = chat(question, tools=tools, tool_choice="none", max_tokens=40)
check(not reply.choices[0].message.tool_calls and reply.choices[0].finish_reason != "tool_calls", f"none: {reply.choices[0]}")

# The result of a call goes back as a tool message, and the model answers.
first = chat(question, tools=tools, tool_choice={"type": "function", "function": {"name": "get_weather"}}, max_tokens=120)
call = first.choices[0].message.tool_calls[0]
followup = question + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                       {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 21, "sky": "sunny"})}]
reply = chat(followup, tools=tools, tool_choice="none", max_tokens=40)
check(reply.choices[0].message.content, f"an answer after the tool result: {reply.choices[0]}")

# Tools with response_format: either calls or the format (llama.cpp #27114 breaks this).
reply = chat(question, tools=tools, tool_choice="auto", max_tokens=150,
             response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schemas["weather"]}})
if reply.choices[0].message.tool_calls:
    check(reply.choices[0].finish_reason == "tool_calls", "calls under response_format")
else:
    jsonschema.validate(json.loads(reply.choices[0].message.content), schemas["weather"])
    check.passed()

# Bad input: a 400 that names the field.
refused("an unsupported keyword", "uniqueItems", response_format={"type": "json_schema", "json_schema": {"name": "x",
        "schema": {"type": "array", "uniqueItems": True}}})
refused("an invalid grammar", "grammar", extra_body={"grammar": "root ::= undefined-rule"})
refused("an unknown tool choice", "tool_choice", tools=tools, tool_choice={"type": "function", "function": {"name": "nope"}})
refused("two constraints", "guided_regex", response_format={"type": "json_object"}, extra_body={"guided_regex": "a+"})
refused("a bad regex", "guided_regex", extra_body={"guided_regex": "(a"})
refused("required without tools", "tool_choice", tool_choice="required")

# LangChain, as applications use it.
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

llm = ChatOpenAI(base_url=base + "/v1", api_key="unused", model=model, temperature=0, max_tokens=200, max_retries=0)
structured = llm.with_structured_output(City, method="json_schema").invoke("Describe Rome as JSON.")
check(isinstance(structured, City), f"with_structured_output gives a City: {structured!r}")


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
    """The current weather in a city."""
    return "sunny"


message = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("What is the weather in Berlin?")
check(message.tool_calls and message.tool_calls[0]["name"] == "get_weather" and message.tool_calls[0]["args"].get("unit") in ("celsius", "fahrenheit"),
      f"bind_tools: {message.tool_calls}")

print(f"all checks passed ({check.count} checks)")
