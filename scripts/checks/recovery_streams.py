#!/usr/bin/env python3
"""Streams 16 concurrent completions from a Brigade server with the official `openai` client, optionally firing a
fault (a shell command: kill a rank, stop it, cut its host off) once the streams have produced a number of tokens,
and writes every stream's tokens, log-probs and text to a JSON file.

Run it once without a fault and once with one: the two files must hold the same streams, token for token
(`compare`). Greedy and seeded requests only: an unseeded sampled request is random by design.

    recovery_streams.py run BASE OUT.json [--fault-after N --fault CMD] [--streams 16] [--max-tokens 40]
    recovery_streams.py compare REFERENCE.json FAULTED.json
"""
import argparse
import json
import subprocess
import sys
import threading
import time

def requests(streams, max_tokens):
    out = []
    for i in range(streams):
        body = " ".join(["The pipeline keeps every request alive when a machine dies."] * (1 + i % 5))
        request = {"prompt": f"Request {i}: {body} Tell me more:", "max_tokens": max_tokens + i % 7, "logprobs": 1}
        if i % 2 == 0:
            request["temperature"] = 0
        else:
            request.update(temperature=0.8, top_p=0.95, seed=1000 + i)
        out.append(request)
    return out

def run(args):
    from openai import OpenAI
    client = OpenAI(base_url=args.base + "/v1", api_key="none", max_retries=0, timeout=600)
    model = client.models.list().data[0].id
    lock = threading.Lock()
    state = {"tokens": 0, "fault_at": None, "errors": []}
    arrivals = {}  # stream -> arrival time of each token
    results = {}

    def fire():
        state["fault_at"] = time.time()
        subprocess.run(args.fault, shell=True, check=False)

    def stream(index, request):
        tokens, logprobs, text, finish = [], [], "", None
        try:
            response = client.completions.create(model=model, stream=True, extra_body={"ignore_eos": True}, **request)
            for chunk in response:
                choice = chunk.choices[0]
                text += choice.text or ""
                if choice.logprobs and choice.logprobs.tokens:
                    tokens += choice.logprobs.tokens
                    logprobs += choice.logprobs.token_logprobs
                finish = choice.finish_reason or finish
                fault_now = False
                with lock:
                    count = len(choice.logprobs.tokens) if choice.logprobs and choice.logprobs.tokens else 0
                    before = state["tokens"]
                    state["tokens"] += count
                    if args.fault and args.fault_after is not None and before < args.fault_after <= state["tokens"] and state["fault_at"] is None:
                        state["fault_at"] = -1  # claimed
                        fault_now = True
                    if count:
                        arrivals.setdefault(index, []).extend([time.time()] * count)
                if fault_now:
                    fire()
        except Exception as error:  # a stream that fails is what the check is about: record it
            with lock:
                state["errors"].append(f"stream {index}: {type(error).__name__}: {error}")
        results[str(index)] = {"tokens": tokens, "logprobs": logprobs, "text": text, "finish_reason": finish}

    started = time.time()
    threads = [threading.Thread(target=stream, args=(i, r)) for i, r in enumerate(requests(args.streams, args.max_tokens))]
    for thread in threads:
        thread.start()
    if args.fault and args.fault_after == 0:
        time.sleep(args.fault_delay)
        with lock:
            state["fault_at"] = -1
        fire()
    for thread in threads:
        thread.join()
    report = {"streams": results, "errors": state["errors"], "seconds": time.time() - started, "tokens": state["tokens"],
              "start": started}
    if state["fault_at"] not in (None, -1):
        fault = state["fault_at"]
        report["fault_at"] = fault - started
        # Tokens already on their way when the rank died still arrive at once; the first token of the new pipeline
        # is the first one, in any stream, after that stream's longest pause following the fault.
        resumed = []
        for times in arrivals.values():
            after = [(b - a, b) for a, b in zip(times, times[1:]) if b > fault]
            if after:
                resumed.append(max(after)[1])
        if resumed:
            report["recovery_seconds"] = min(resumed) - fault
            report["longest_pause_seconds"] = max(max(b - a for a, b in zip(t, t[1:])) for t in arrivals.values() if len(t) > 1)
    with open(args.out, "w") as f:
        json.dump(report, f)
    print(json.dumps({k: v for k, v in report.items() if k != "streams"}))
    return 0

def compare(args):
    reference, faulted = (json.load(open(path)) for path in (args.reference, args.faulted))
    problems = list(faulted["errors"])
    for key, expected in reference["streams"].items():
        got = faulted["streams"].get(key)
        if got is None:
            problems.append(f"stream {key}: missing")
            continue
        for field in ("tokens", "logprobs", "text", "finish_reason"):
            if got[field] != expected[field]:
                at = next((i for i, (a, b) in enumerate(zip(got[field], expected[field])) if a != b), None) if isinstance(got[field], list) else None
                problems.append(f"stream {key}: {field} differ" + (f" from position {at}" if at is not None else "")
                                + f" ({len(got[field]) if isinstance(got[field], (list, str)) else got[field]} vs "
                                + f"{len(expected[field]) if isinstance(expected[field], (list, str)) else expected[field]})")
    if problems:
        print("\n".join(problems))
        return 1
    tokens = sum(len(s["tokens"]) for s in reference["streams"].values())
    print(f"identical: {len(reference['streams'])} streams, {tokens} tokens, lost 0, changed 0")
    return 0

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("base")
    r.add_argument("out")
    r.add_argument("--streams", type=int, default=16)
    r.add_argument("--max-tokens", type=int, default=40)
    r.add_argument("--fault", help="shell command to run once, mid-run")
    r.add_argument("--fault-after", type=int, help="tokens streamed in all before the fault (0: right after submitting)")
    r.add_argument("--fault-delay", type=float, default=0.3, help="with --fault-after 0: seconds after submitting")
    c = sub.add_parser("compare")
    c.add_argument("reference")
    c.add_argument("faulted")
    args = parser.parse_args()
    sys.exit(run(args) if args.command == "run" else compare(args))

if __name__ == "__main__":
    main()
