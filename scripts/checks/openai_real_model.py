#!/usr/bin/env python3
"""Drives `brigade serve` on a real model with the official openai client: the answers people see, and that
streaming and batching change nothing. Exits non-zero on the first failed check.

    python3 scripts/checks/openai_real_model.py http://127.0.0.1:8000 [--expect WORD]
"""
import argparse, concurrent.futures, sys
from openai import OpenAI

ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("--expect", help="a word the answer to the capital-of-France question must contain")
a = ap.parse_args()
client = OpenAI(base_url=a.base.rstrip("/") + "/v1", api_key="unused")
model = client.models.list().data[0].id


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


question = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
chat = client.chat.completions.create(model=model, messages=question, max_tokens=24, temperature=0)
answer = chat.choices[0].message.content
check(answer and answer.strip(), f"chat answers: {answer!r}")
if a.expect:
    check(a.expect in answer, f"the answer mentions {a.expect}")
check(chat.choices[0].finish_reason in ("stop", "length") and chat.usage.completion_tokens > 0, "finish reason and usage")

stream = client.chat.completions.create(model=model, messages=question, max_tokens=24, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
chunks = list(stream)
streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check(streamed == answer, f"the streamed answer equals the non-streamed one ({streamed!r})")
check(chunks[-1].usage.completion_tokens == chat.usage.completion_tokens, "streamed usage")

system = [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "Name a colour."}]
code = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
prompts = [question, system, code] * 4
def ask(messages):
    return client.chat.completions.create(model=model, messages=messages, max_tokens=20, temperature=0).choices[0].message.content
alone = [ask(m) for m in prompts[:3]]
with concurrent.futures.ThreadPoolExecutor(12) as pool:
    together = list(pool.map(ask, prompts))
check(together == alone * 4, "12 concurrent greedy requests answer as they do one at a time")

seeded = [client.chat.completions.create(model=model, messages=code, max_tokens=16, temperature=0.8, seed=11)
          .choices[0].message.content for _ in range(2)]
check(seeded[0] == seeded[1], "a seeded sampled answer repeats")
print("all checks passed")
