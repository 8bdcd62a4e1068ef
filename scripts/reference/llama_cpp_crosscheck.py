#!/usr/bin/env python3
"""Cross-check the real-model golden fixtures against llama.cpp (an oracle at KL level only).

    python3 scripts/reference/llama_cpp_crosscheck.py [--llama-bin DIR] [--models DIR] [--only DIR_NAME]

For every fixture directory written by real_model_goldens.py, starts llama.cpp's `llama-server` on the fixture's
model (127.0.0.1, one slot, CPU) and, for each fixture, asks `/completion` with the fixture's prompt ids:
  - free-running: temperature 0, as many tokens as the fixture generated, n_probs 5: how many leading greedy tokens
    agree with the numpy reference;
  - teacher-forced: at each step of the reference's path (prompt + the reference's tokens so far), one token with
    n_probs 5: whether llama.cpp's top-1 is the reference's, and the difference of the reference token's log-prob.
Prints one Markdown table row per fixture. llama.cpp quantizes activations to 8 bits for its integer products, so
disagreements at steps whose top-2 gap is small are expected.
"""
import argparse, glob, json, os, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "Tests", "ModelTests", "Fixtures"))
DIRS = ("qwen2.5-coder-golden", "gemma3-golden")


def post(port, route, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{route}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def start_server(llama_bin, model, port, threads, extra=()):
    """llama-server on 127.0.0.1:port (extra: more command-line options); returns the process once /health
    answers."""
    log = open(os.path.join("/tmp", f"llama-server-{port}.log"), "w")
    proc = subprocess.Popen([os.path.join(llama_bin, "llama-server"), "-m", model, "--host", "127.0.0.1",
                             "--port", str(port), "-c", "4096", "-np", "1", "-t", str(threads), "-tb", str(threads),
                             *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited ({proc.returncode}); see {log.name}")
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("llama-server did not become healthy")


def complete(port, ids, n):
    """llama.cpp's greedy continuation of ids: (generated token ids, [(id, log-prob, {id: log-prob} of the top 5)]).

    llama-server reports no probabilities for a token that leaves the text an incomplete UTF-8 sequence (a byte
    token in the middle of a character), so the second list can be shorter than the first."""
    r = post(port, "/completion", {"prompt": ids, "n_predict": n, "temperature": 0, "n_probs": 5,
                                   "cache_prompt": True, "return_tokens": True})
    probs = [(p["id"], p["logprob"], {t["id"]: t["logprob"] for t in p["top_logprobs"]})
             for p in r.get("completion_probabilities", [])]
    return r["tokens"], probs


def check(port, fx):
    """Agreement figures of one fixture against llama.cpp: free-running greedy prefix agreement, teacher-forced
    top-1 agreement and |log-prob difference| of the reference's token."""
    ref = fx["generated_ids"]
    free, _ = complete(port, fx["prompt_ids"], len(ref))
    agree = 0
    for tok, r in zip(free, ref):
        if tok != r:
            break
        agree += 1
    forced_top1, diffs, misses = 0, [], []
    for k, step in enumerate(fx["steps"]):
        toks, probs = complete(port, fx["prompt_ids"] + ref[:k], 1)
        forced_top1 += toks[0] == step["token_id"]
        if toks[0] != step["token_id"]:
            misses.append({"step": k, "llama.cpp": toks[0], "reference_gap": step["gap"]})
        top = probs[0][2] if probs else {}
        if step["token_id"] in top:
            diffs.append(abs(top[step["token_id"]] - step["top"][0][1]))
    return dict(free_agree=agree, free_ids=free, forced_top1=forced_top1, n=len(ref), compared=len(diffs),
                max_dlp=max(diffs) if diffs else float("nan"), mean_dlp=sum(diffs) / max(len(diffs), 1),
                min_gap=fx["min_gap"], forced_misses=misses)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama-bin", default="/work/llama.cpp/build/bin")
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/brigade/models"))
    ap.add_argument("--only", choices=DIRS)
    ap.add_argument("--port", type=int, default=18431)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    rows, results = [], {}
    for d in [args.only] if args.only else DIRS:
        paths = sorted(glob.glob(os.path.join(FIXTURES, d, "*.json")))
        model = json.load(open(paths[0]))["model"]["file"]
        proc = start_server(args.llama_bin, os.path.join(args.models, model), args.port, args.threads)
        try:
            for p in paths:
                fx = json.load(open(p))
                r = results[f"{d}/{os.path.basename(p)}"] = check(args.port, fx)
                rows.append(f"| {model} | {os.path.basename(p)[:-5]} | {len(fx['prompt_ids'])} | "
                            f"{r['free_agree']} / {r['n']} | {r['forced_top1']} / {r['n']} | "
                            f"{r['mean_dlp']:.4f} | {r['max_dlp']:.4f} | {r['min_gap']:.3f} |")
                print(rows[-1], flush=True)
        finally:
            proc.terminate()
            proc.wait()
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
