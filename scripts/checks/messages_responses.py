#!/usr/bin/env python3
"""Drives `brigade serve` through Anthropic's Messages API and OpenAI's Responses API with the official `anthropic`
and `openai` Python clients, as they talk to the real services.

    scripts/checks/messages_responses.py BASE_URL

Checks: non-streaming and streaming replies (the clients' own stream helpers accumulate the events), a streamed
reply equal to the non-streamed one, system prompts and instructions, stop sequences, max-token endings, usage and
cached prompt tokens, count_tokens, a client disconnecting mid-stream (the server cancels the request), bad inputs
with each API's error shape and status, and the same greedy text from Chat Completions, Messages and Responses for the
same conversation. Prints "all checks passed" and exits 0, or names the first failure.
"""
import json, sys, time

import anthropic
import openai

from checklib import Checks, metric as read_metric

base = sys.argv[1].rstrip("/")
claude = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)
gpt = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
model = gpt.models.list().data[0].id
check = Checks()


def metric(name):
    return read_metric(base, name)


question = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
system = "You are a terse geography tutor."

# Messages: non-streaming, with a system prompt.
message = claude.messages.create(model=model, max_tokens=24, system=system, messages=question, extra_body={"temperature": 0})
check(message.type == "message" and message.role == "assistant", f"a message object: {message}")
check(message.content and message.content[0].type == "text" and message.content[0].text, "a text block")
check(message.stop_reason in ("end_turn", "max_tokens"), f"stop_reason {message.stop_reason}")
check(message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0) > 10 and message.usage.output_tokens >= 1,
      f"usage {message.usage}")
check(message.id.startswith("msg_"), "msg_ id")

# Messages: the client's stream helper gives the same text, and every event in Anthropic's order.
with claude.messages.stream(model=model, max_tokens=24, system=system, messages=question, extra_body={"temperature": 0}) as stream:
    kinds = [event.type for event in stream]
    streamed = stream.get_final_message()
check(streamed.content[0].text == message.content[0].text, f"streamed {streamed.content[0].text!r} vs {message.content[0].text!r}")
check(streamed.stop_reason == message.stop_reason and streamed.usage.output_tokens == message.usage.output_tokens, "streamed stop and usage")
check(kinds[0] == "message_start" and "content_block_start" in kinds and kinds[-1] == "message_stop" and "message_delta" in kinds,
      f"event order {kinds}")
raw = claude.messages.create(model=model, max_tokens=8, messages=question, stream=True)
names = [event.type for event in raw]
check(names[:2] == ["message_start", "content_block_start"] and names[-3:] == ["content_block_stop", "message_delta", "message_stop"],
      f"raw events {names}")

# The second identical request reuses the prompt from the prefix cache, and says so.
again = claude.messages.create(model=model, max_tokens=24, system=system, messages=question, extra_body={"temperature": 0})
check((again.usage.cache_read_input_tokens or 0) > 0 and again.content[0].text == message.content[0].text,
      f"cached prompt tokens {again.usage}")

# Endings: max_tokens, stop_sequence (named), end_turn.
short = claude.messages.create(model=model, max_tokens=2, messages=[{"role": "user", "content": "Count from one to twenty."}],
                               extra_body={"temperature": 0})
check(short.stop_reason == "max_tokens" and short.usage.output_tokens == 2, f"max_tokens ending {short.stop_reason}")
long = claude.messages.create(model=model, max_tokens=40, messages=[{"role": "user", "content": "Count from one to twenty, separated by commas."}],
                              extra_body={"temperature": 0})
words = long.content[0].text.split(",")
if len(words) > 2:
    stop = words[1].strip() or words[2].strip()
    cut = claude.messages.create(model=model, max_tokens=40, stop_sequences=[stop, "zzzz"],
                                 messages=[{"role": "user", "content": "Count from one to twenty, separated by commas."}], extra_body={"temperature": 0})
    check(cut.stop_reason == "stop_sequence" and cut.stop_sequence == stop and stop not in cut.content[0].text,
          f"stop_sequence ending: {cut.stop_reason} {cut.stop_sequence!r} {cut.content[0].text!r}")
# Multi-turn with content blocks and a system block list.
turns = claude.messages.create(model=model, max_tokens=8, system=[{"type": "text", "text": system}], extra_body={"temperature": 0},
                               messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                                         {"role": "assistant", "content": "Hello."},
                                         {"role": "user", "content": "Name a river."}])
check(turns.content[0].text, "multi-turn with blocks")
count = claude.messages.count_tokens(model=model, system=system, messages=question)
check(count.input_tokens == message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0), f"count_tokens {count}")

# Messages errors: Anthropic's shape and status codes.
for label, call, status in [
    ("no max_tokens", lambda: claude.messages.create(model=model, messages=question, max_tokens=None), 400),
    ("bad role", lambda: claude.messages.create(model=model, max_tokens=4, messages=[{"role": "robot", "content": "x"}]), 400),
    ("image block", lambda: claude.messages.create(model=model, max_tokens=4, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]), 400),
    ("server tool", lambda: claude.messages.create(model=model, max_tokens=4, messages=question, tools=[
        {"type": "web_search_20250305", "name": "web_search"}]), 400),
    ("unknown tool_choice", lambda: claude.messages.create(model=model, max_tokens=4, messages=question, tools=[
        {"name": "f", "description": "d", "input_schema": {"type": "object"}}], tool_choice={"type": "tool", "name": "g"}), 400),
    ("unknown model", lambda: claude.messages.create(model="claude-nonexistent", max_tokens=4, messages=question), 404),
]:
    try:
        call()
        check(False, f"{label} should fail")
    except anthropic.APIStatusError as error:
        body = error.response.json()
        check(error.status_code == status and body.get("type") == "error" and body["error"]["type"] and body["error"]["message"],
              f"{label}: {error.status_code} {body}")
    except TypeError:
        check.passed()  # the client itself refuses a missing max_tokens

# Responses: non-streaming, instructions, usage.
response = gpt.responses.create(model=model, input=question[0]["content"], instructions=system, temperature=0, max_output_tokens=24)
check(response.status in ("completed", "incomplete") and response.output_text, f"response {response}")
check(response.usage.input_tokens > 10 and response.usage.output_tokens >= 1, f"usage {response.usage}")
check(response.output_text == message.content[0].text, f"Responses {response.output_text!r} vs Messages {message.content[0].text!r}")
with gpt.responses.stream(model=model, input=question[0]["content"], instructions=system, temperature=0, max_output_tokens=24) as stream:
    deltas = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
    final = stream.get_final_response()
check(final.output_text == response.output_text and deltas == response.output_text, f"streamed response {final.output_text!r}")
limited = gpt.responses.create(model=model, input="Count from one to twenty.", max_output_tokens=2, temperature=0)
check(limited.status == "incomplete" and limited.incomplete_details.reason == "max_output_tokens", f"incomplete {limited.status}")
listed = gpt.responses.create(model=model, temperature=0, max_output_tokens=8, input=[
    {"role": "developer", "content": system}, {"role": "user", "content": [{"type": "input_text", "text": "Name a river."}]}])
check(listed.output_text, "input as messages")
for label, kwargs in [("previous_response_id", {"previous_response_id": "resp_x"}), ("store", {"store": True}),
                      ("built-in tool", {"tools": [{"type": "web_search"}]}),
                      ("bad schema", {"text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "array", "uniqueItems": True}}}}),
                      ("bad input", {"input": 7})]:
    try:
        gpt.responses.create(model=model, **({"input": "Hi"} | kwargs), max_output_tokens=4)
        check(False, f"{label} should fail")
    except openai.BadRequestError as error:
        check(error.status_code == 400 and error.body and error.body.get("message"), f"{label}: {error.body}")

# Tool use, as each client's users write it.
weather_schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city", "unit"]}
ask_weather = [{"role": "user", "content": "What is the weather like in Paris today?"}]
weather_tool = {"name": "get_weather", "description": "The current weather in a city", "input_schema": weather_schema}
used = claude.messages.create(model=model, max_tokens=160, messages=ask_weather, tools=[weather_tool],
                              tool_choice={"type": "tool", "name": "get_weather"}, extra_body={"temperature": 0})
uses = [block for block in used.content if block.type == "tool_use"]
check(used.stop_reason in ("tool_use", "max_tokens") and uses and uses[0].name == "get_weather"
      and uses[0].input["unit"] in ("celsius", "fahrenheit") and uses[0].id.startswith("toolu_"), f"tool_use: {used}")
with claude.messages.stream(model=model, max_tokens=160, messages=ask_weather, tools=[weather_tool],
                            tool_choice={"type": "tool", "name": "get_weather"}, extra_body={"temperature": 0}) as stream:
    streamed_use = stream.get_final_message()
check([b.input for b in streamed_use.content if b.type == "tool_use"][:len(uses)] == [b.input for b in uses],
      f"streamed tool_use {streamed_use.content} vs {used.content}")
answered = claude.messages.create(model=model, max_tokens=40, tools=[weather_tool], tool_choice={"type": "none"}, extra_body={"temperature": 0},
                                  messages=ask_weather + [{"role": "assistant", "content": [uses[0].model_dump()]},
                                                          {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id,
                                                                                        "content": "21 degrees and sunny"}]}])
check(answered.content and answered.content[0].type == "text" and answered.content[0].text, f"answer after tool_result: {answered}")

function = {"type": "function", "name": "get_weather", "description": "The current weather in a city", "parameters": weather_schema}
called = gpt.responses.create(model=model, input=ask_weather[0]["content"], tools=[function], temperature=0, max_output_tokens=160,
                              tool_choice={"type": "function", "name": "get_weather"})
calls = [item for item in called.output if item.type == "function_call"]
check(calls and calls[0].name == "get_weather" and json.loads(calls[0].arguments)["unit"] in ("celsius", "fahrenheit")
      and calls[0].call_id.startswith("call_"), f"function_call: {called.output}")
with gpt.responses.stream(model=model, input=ask_weather[0]["content"], tools=[function], temperature=0, max_output_tokens=160,
                          tool_choice={"type": "function", "name": "get_weather"}) as stream:
    argument_deltas = "".join(event.delta for event in stream if event.type == "response.function_call_arguments.delta")
    final_calls = [item for item in stream.get_final_response().output if item.type == "function_call"]
check([c.arguments for c in final_calls][:len(calls)] == [c.arguments for c in calls] and argument_deltas.startswith(calls[0].arguments),
      f"streamed function calls {final_calls}")
after = gpt.responses.create(model=model, temperature=0, max_output_tokens=40, tools=[function], tool_choice="none", input=[
    ask_weather[0], calls[0].model_dump(exclude_none=True), {"type": "function_call_output", "call_id": calls[0].call_id, "output": "21 degrees"}])
check(after.output_text, f"answer after function_call_output: {after.output}")
shaped = gpt.responses.create(model=model, input="Describe Paris as JSON.", temperature=0, max_output_tokens=120, text={"format": {
    "type": "json_schema", "name": "city", "schema": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30},
                                                      "country": {"type": "string", "maxLength": 30}}, "required": ["name", "country"]}}})
check(set(json.loads(shaped.output_text)) == {"name", "country"}, f"text.format json_schema: {shaped.output_text!r}")

# Chat Completions gives the same greedy text for the same conversation.
chat = gpt.chat.completions.create(model=model, messages=[{"role": "system", "content": system}] + question, max_tokens=24, temperature=0)
check(chat.choices[0].message.content == message.content[0].text, f"chat {chat.choices[0].message.content!r}")

# A client that hangs up mid-stream: the request is cancelled, nothing keeps running.
with claude.messages.stream(model=model, max_tokens=400, messages=[{"role": "user", "content": "Tell me a long story."}]) as stream:
    for index, _ in enumerate(stream.text_stream):
        if index == 3:
            break
with gpt.responses.stream(model=model, input="Tell me a long story.", max_output_tokens=400) as stream:
    for index, event in enumerate(stream):
        if index == 8:
            break
for _ in range(100):
    if metric("brigade_requests_running") == 0 and metric("brigade_kv_blocks_used") == 0:
        break
    time.sleep(0.1)
check(metric("brigade_requests_running") == 0 and metric("brigade_kv_blocks_used") == 0, "disconnected streams cancelled")
print(f"all checks passed ({check.count})")
