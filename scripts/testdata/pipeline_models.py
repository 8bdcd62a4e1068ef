#!/usr/bin/env python3
"""Deeper tiny random models for the pipeline executor's tests (a 3-layer model cannot be split into 4 or 8 stages).

    python3 pipeline_models.py --out $BRIGADE_TESTDATA    (other arguments of scripts/prepare-test-data are ignored)

Writes DIR/pipeline/deep8.gguf: the tiny_models.py architecture (hidden 64, 4 heads, 2 KV heads, FFN 96, the same
302-token vocabulary) with 8 layers, context 512, F32 weights from a fixed seed, so it is byte-for-byte reproducible;
and DIR/pipeline/gemma3_deep6.gguf: the tiny Gemma 3 (window 8) with 6 layers, 1, 2, 4 and 5 local, context 512, so
pp 4 can split sliding-window layers from global ones (stages with only local or only global layers).
"""
import argparse, os, sys, time
import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models as tiny  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True); ap.add_argument("--model"); ap.add_argument("--llama")
    root = os.path.join(ap.parse_args().out, "pipeline")
    os.makedirs(root, exist_ok=True)
    t0 = time.time()
    tiny.LAYERS, tiny.CTX = 8, 512
    path = os.path.join(root, "deep8.gguf")
    tiny.write_gguf(path, tiny.random_weights(7), gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F32, "llama", False)
    print(f"pipeline_models: {path} ({time.time() - t0:.1f} s)", file=sys.stderr)
    tiny.LAYERS, tiny.GEMMA_LOCAL_LAYERS = 6, [True, True, False, True, True, False]
    path = os.path.join(root, "gemma3_deep6.gguf")
    tiny.write_gguf(path, tiny.random_weights(11, extra=("qk_norm", "post_norms")), gguf.GGMLQuantizationType.F32,
                    gguf.GGMLQuantizationType.F32, "gemma3", False)
    print(f"pipeline_models: {path} ({time.time() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
