#!/usr/bin/env python3
"""Drives a running `brigade serve` with the official openai client; exits non-zero on the first failed check.

    python3 scripts/checks/openai_client.py http://127.0.0.1:8000
"""
import concurrent.futures, re, sys, time, urllib.request
from openai import OpenAI, BadRequestError, NotFoundError

base = sys.argv[1].rstrip("/")
client = OpenAI(base_url=base + "/v1", api_key="unused")


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def metric(name):
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else None


model = client.models.list().data[0].id
check(client.models.retrieve(model).id == model, "models.retrieve")
chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "What is the capital of France?"}],
                                      max_tokens=16, temperature=0, n=2, logprobs=True, top_logprobs=3)
check(len(chat.choices) == 2 and "Paris" in chat.choices[0].message.content, f"chat n=2: {chat.choices[0].message.content!r}")
check(len(chat.choices[0].logprobs.content[0].top_logprobs) == 3, "chat top_logprobs")
check(chat.usage.completion_tokens == sum(len(c.logprobs.content) for c in chat.choices), "chat usage")

stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Count from 1 to 5."}],
                                        max_tokens=24, temperature=0, stream=True, stream_options={"include_usage": True})
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0 and text, f"chat stream: {text!r}")

completion = client.completions.create(model=model, prompt="The capital of France is", max_tokens=12, temperature=0,
                                       stop=["."], echo=True, logprobs=2)
choice = completion.choices[0]
check(choice.text.startswith("The capital of France is") and "." not in choice.text[24:] and choice.finish_reason == "stop",
      f"completion with stop and echo: {choice.text!r}")
check(len(choice.logprobs.tokens) == len(choice.logprobs.token_logprobs) > 0, "completion logprobs")

for bad, error in [(dict(temperature=-1), BadRequestError), (dict(top_p=2), BadRequestError), (dict(model="nope"), NotFoundError)]:
    try:
        client.chat.completions.create(**{"model": model, "messages": [{"role": "user", "content": "x"}], **bad})
        check(False, f"{bad} should fail")
    except error as e:
        check(e.body and "message" in e.body, f"{bad} -> {type(e).__name__}")

# Streamed completion chunks carry log-prob offsets into the whole text, as the non-streamed answer does.
whole = client.completions.create(model=model, prompt="One, two,", max_tokens=8, temperature=0, logprobs=1, echo=True)
chunks = list(client.completions.create(model=model, prompt="One, two,", max_tokens=8, temperature=0, logprobs=1, echo=True,
                                        stream=True))
streamed = [o for c in chunks if c.choices and c.choices[0].logprobs for o in c.choices[0].logprobs.text_offset]
check(streamed == whole.choices[0].logprobs.text_offset and streamed[0] == len("One, two,"),
      f"streamed text_offset {streamed} == {whole.choices[0].logprobs.text_offset}")
check("".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text, "streamed text equals the whole text")

# Greedy outputs of 64 concurrent streams equal the same requests one at a time.
prompts = [f"Write one sentence about the number {i}." for i in range(64)]
def run(prompt, stream):
    messages = [{"role": "user", "content": prompt}]
    if not stream:
        return client.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0).choices[0].message.content
    return "".join(c.choices[0].delta.content or "" for c in
                   client.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0, stream=True))
alone = [run(p, False) for p in prompts]
with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
    together = list(pool.map(lambda p: run(p, True), prompts))
check(alone == together, f"{len(prompts)} concurrent streams equal the requests run one at a time")

# A client that disconnects mid-stream cancels its request: nothing left running, every KV block free.
stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Tell a long story."}],
                                        max_tokens=400, temperature=0, stream=True, extra_body={"ignore_eos": True})
for i, _ in enumerate(stream):
    if i == 3:
        break
stream.close()
deadline = time.time() + 15
while time.time() < deadline and (metric("brigade_requests_running") or metric("brigade_kv_blocks_used")):
    time.sleep(0.2)
check(metric("brigade_requests_running") == 0 and metric("brigade_kv_blocks_used") == 0, "disconnect cancels the request")
print("all checks passed")
