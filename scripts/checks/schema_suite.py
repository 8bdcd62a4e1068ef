#!/usr/bin/env python3
"""Generates one answer per schema of the structured-output suite (Tests/GrammarTests/Fixtures/schemas) through
`brigade serve` with `response_format: json_schema`, and validates every answer with `jsonschema` (Draft 2020-12,
formats checked).

    scripts/checks/schema_suite.py BASE_URL [--max-tokens N] [--temperature T]

Every answer that ends with "stop" must validate; answers cut by max_tokens are counted (a small model can write a
string until the limit) but are not failures. Prints one line per schema and a tally, exits non-zero if any
finished answer fails to validate.
"""
import argparse, json, pathlib, sys

import jsonschema
import openai

parser = argparse.ArgumentParser()
parser.add_argument("base")
parser.add_argument("--max-tokens", type=int, default=400)
parser.add_argument("--temperature", type=float, default=0)
args = parser.parse_args()
client = openai.OpenAI(base_url=args.base.rstrip("/") + "/v1", api_key="unused", max_retries=0)
model = client.models.list().data[0].id
suite = sorted((pathlib.Path(__file__).resolve().parents[2] / "Tests/GrammarTests/Fixtures/schemas").glob("*.json"))
validated = cut = 0
failures = []
for path in suite:
    fixture = json.loads(path.read_text())
    reply = client.chat.completions.create(
        model=model, temperature=args.temperature, seed=1, max_tokens=args.max_tokens,
        messages=[{"role": "user", "content": f"Give an example of {fixture['name'].replace('-', ' ')} as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": fixture["schema"]}})
    choice = reply.choices[0]
    if choice.finish_reason == "length":
        cut += 1
        print(f"{path.name}: cut by max_tokens after {reply.usage.completion_tokens} tokens")
        continue
    try:
        jsonschema.Draft202012Validator(fixture["schema"], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(json.loads(choice.message.content))
        validated += 1
        print(f"{path.name}: valid ({reply.usage.completion_tokens} tokens)")
    except Exception as error:
        failures.append(path.name)
        print(f"{path.name}: INVALID: {choice.message.content!r}: {error}")
print(f"{validated} of {len(suite) - cut} finished answers validate ({cut} cut by max_tokens); failures: {failures or 'none'}")
sys.exit(1 if failures else 0)
