#!/usr/bin/env python3
"""Recomputes a `brigade bench serve --save-result` file's aggregates with vLLM's own formulas
(vllm/benchmarks/serve.py, calculate_metrics: numpy mean / median / std / percentile) from the per-request
fields it saves, and checks that they match what brigade reported. Exits non-zero on the first mismatch.

    python3 scripts/checks/vllm_metrics.py result.json
"""
import json, sys
import numpy as np

result = json.load(open(sys.argv[1]))
ok = [e == "" for e in result["errors"]]
ttfts = [t for t, good in zip(result["ttfts"], ok) if good]
itls_per_request = [i for i, good in zip(result["itls"], ok) if good]
outputs = [n for n, good in zip(result["output_lens"], ok) if good]
# Completions: a request's latency is its last chunk with choices, i.e. TTFT plus its inter-token gaps.
e2els = [t + sum(i) for t, i in zip(ttfts, itls_per_request)]
tpots = [(e - t) / (n - 1) for e, t, n in zip(e2els, ttfts, outputs) if n > 1]
itls = [gap for gaps in itls_per_request for gap in gaps]
duration = result["duration"]
expected = {
    "completed": len(ttfts),
    "total_output_tokens": sum(result["output_lens"]),
    "total_input_tokens": sum(n for n, good in zip(result["input_lens"], ok) if good),
    "request_throughput": len(ttfts) / duration,
    "output_throughput": sum(result["output_lens"]) / duration,
}
for name, values in [("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)]:
    if f"mean_{name}_ms" not in result:
        continue
    expected[f"mean_{name}_ms"] = np.mean(values or 0) * 1000
    expected[f"median_{name}_ms"] = np.median(values or 0) * 1000
    expected[f"std_{name}_ms"] = np.std(values or 0) * 1000
    for p in [50, 90, 99]:
        if f"p{p}_{name}_ms" in result:
            expected[f"p{p}_{name}_ms"] = np.percentile(values or 0, p) * 1000
for key, value in expected.items():
    got = result[key]
    if abs(got - value) > 1e-6 * max(1.0, abs(value)):
        sys.exit(f"FAILED: {key} is {got}, vLLM's formula gives {value}")
print(f"all {len(expected)} aggregates match vLLM's formulas")
