#!/usr/bin/env python3
"""Checks the numpy reference's newer architectures against llama.cpp on tiny random float32 GGUFs.

    python3 scripts/reference/tiny_arch_check.py [--llama-bin DIR] [--keep DIR]

The real models are quantized, and llama.cpp quantizes activations for quantized weights, so on them it agrees
with the reference only at KL level. With float32 weights (and an f32 KV cache, no flash attention) its products
are float32 too, so this is a close check of what the code of each architecture computes:
  qwen3          per-head Q/K RMSNorm, NeoX RoPE, no biases
  llama-ropefreq Llama 3.1 RoPE scaling as GGUF stores it (`rope_freqs.weight` divisors), adjacent-pair RoPE
  gemma3         scaled embeddings, sandwich norms, Q/K norms, GELU, key_length != hidden / heads, sliding-window
                 layers (window 6, pattern 2) with their own RoPE base
For each model, teacher-forced over one 24-token sequence, compares the top-5 log-probs llama-server reports at
every prefix length with the reference's. Prints the largest difference per model; exits 1 above --tolerance.
llama.cpp's CPU GELU goes through an f16 table (x and the result rounded to f16), which alone moves Gemma's
log-probs by ~1e-3: gemma3 is compared with that GELU swapped into the reference (and, for information, without).
"""
import argparse, json, os, shutil, sys, tempfile
import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "testdata"))
import llama_reference as ref  # noqa: E402
import llama_cpp_crosscheck as cc  # noqa: E402
import tiny_models as tiny  # noqa: E402  (vocabulary and Q/K permutation of the existing tiny models)
import gemma3  # noqa: E402
from layers import gelu_tanh, gelu_tanh_f16_table, llama3_freq_factors, log_softmax  # noqa: E402

D, H, KVH, FFN, LAYERS, CTX, EPS = 64, 4, 2, 96, 3, 128, 1e-6
LLAMA3 = dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=32)
MODELS = {  # name: (architecture, head_dim, extra metadata)
    "qwen3": ("qwen3", 16, {}),
    "llama-ropefreq": ("llama", 16, {}),
    "gemma3": ("gemma3", 32, {"attention.sliding_window": 6, "attention.sliding_window_pattern": 2,
                              "rope.freq_base_swa": 10000.0}),
}
THETA = {"qwen3": 10000.0, "llama": 10000.0, "gemma3": 1000000.0}


def random_weights(arch, hd, seed=7):
    """Canonical (HF, unpermuted) weights under GGUF names for one tiny model."""
    rng = np.random.default_rng(seed)
    n = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)
    w = {"token_embd.weight": n(tiny.VOCAB, D, s=0.25),
         "output_norm.weight": 1 + n(D, s=0.1)}
    for l in range(LAYERS):
        p = f"blk.{l}."
        for norm in ("attn_norm", "ffn_norm") + (("post_attention_norm", "post_ffw_norm") if arch == "gemma3" else ()):
            w[p + norm + ".weight"] = 1 + n(D, s=0.1)
        if arch in ("qwen3", "gemma3"):
            w[p + "attn_q_norm.weight"], w[p + "attn_k_norm.weight"] = 1 + n(hd, s=0.1), 1 + n(hd, s=0.1)
        w[p + "attn_q.weight"], w[p + "attn_k.weight"] = n(H * hd, D, s=1.5 / D**0.5), n(KVH * hd, D, s=1.5 / D**0.5)
        w[p + "attn_v.weight"], w[p + "attn_output.weight"] = n(KVH * hd, D, s=D**-0.5), n(D, H * hd, s=(H * hd)**-0.5)
        w[p + "ffn_gate.weight"], w[p + "ffn_up.weight"] = n(FFN, D, s=D**-0.5), n(FFN, D, s=D**-0.5)
        w[p + "ffn_down.weight"] = n(D, FFN, s=FFN**-0.5)
    if arch == "llama":
        w["rope_freqs.weight"] = llama3_freq_factors(hd, THETA[arch], **LLAMA3).astype(np.float32)
    return w


def write_gguf(path, arch, hd, extra, w):
    """A float32 GGUF with the tiny models' BPE vocabulary."""
    wr = gguf.GGUFWriter(path, arch)
    wr.add_name("Brigade tiny arch check"); wr.add_type("model"); wr.add_file_type(0)
    wr.add_context_length(CTX); wr.add_embedding_length(D); wr.add_block_count(LAYERS)
    wr.add_feed_forward_length(FFN); wr.add_head_count(H); wr.add_head_count_kv(KVH)
    wr.add_key_length(hd); wr.add_value_length(hd); wr.add_rope_dimension_count(hd)
    wr.add_rope_freq_base(THETA[arch]); wr.add_layer_norm_rms_eps(EPS); wr.add_vocab_size(tiny.VOCAB)
    for key, value in extra.items():
        if isinstance(value, float):
            wr.add_float32(f"{arch}.{key}", value)
        else:
            wr.add_uint32(f"{arch}.{key}", value)
    wr.add_tokenizer_model("gpt2"); wr.add_tokenizer_pre("smollm"); wr.add_token_list(tiny.TOKENS)
    wr.add_token_types([3] * len(tiny.CONTROL) + [1] * (tiny.VOCAB - len(tiny.CONTROL)))
    wr.add_token_merges(tiny.MERGES); wr.add_bos_token_id(1); wr.add_eos_token_id(2); wr.add_add_bos_token(False)
    for name, a in w.items():
        if arch == "llama" and (".attn_q." in name or ".attn_k." in name):
            a = tiny.permute_qk(a, H if ".attn_q." in name else KVH)
        wr.add_tensor(name, a)
    wr.write_header_to_file(); wr.write_kv_data_to_file(); wr.write_tensors_to_file(); wr.close()


def reference_logits(m, ids, gelu=gelu_tanh):
    """The reference's logits of every position, with `gelu` as Gemma's activation."""
    gemma3.gelu_tanh = gelu
    try:
        return ref.forward(m, ids)
    finally:
        gemma3.gelu_tanh = gelu_tanh


def write_hf(d, arch, hd, w):
    """The same weights as a Hugging Face directory (float32 safetensors, config.json; Llama 3.1 scaling as
    `rope_scaling` instead of `rope_freqs.weight`)."""
    os.makedirs(d, exist_ok=True)
    names = tiny.gguf_name_to_hf()
    tiny.write_safetensors(os.path.join(d, "model.safetensors"),
                           {names[k]: v for k, v in w.items() if k != "rope_freqs.weight"}, "float32")
    cfg = {"model_type": "qwen3" if arch == "qwen3" else "llama", "hidden_size": D, "num_attention_heads": H,
           "num_key_value_heads": KVH, "head_dim": hd, "intermediate_size": FFN, "num_hidden_layers": LAYERS,
           "vocab_size": tiny.VOCAB, "rms_norm_eps": EPS, "rope_theta": THETA[arch], "tie_word_embeddings": True}
    if arch == "llama":
        cfg["rope_scaling"] = dict(LLAMA3, rope_type="llama3")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def compare(port, variants, ids):
    """Teacher-forced over every prefix of ids: the largest |log-prob difference| between llama.cpp's top 5 and each
    variant's logits (prefixes whose top token llama-server reports no probabilities for are skipped), top-1
    agreement with the first variant, the number of prefixes compared."""
    worst, agree, compared = [0.0] * len(variants), 0, 0
    for t in range(1, len(ids)):
        toks, probs = cc.complete(port, ids[:t], 1)
        lps = [log_softmax(v[t - 1]) for v in variants]
        agree += toks[0] == int(np.argmax(lps[0]))
        if probs:
            compared += 1
            worst = [max(w, max(abs(x - lp[i]) for i, x in probs[0][2].items())) for w, lp in zip(worst, lps)]
    return worst, agree, compared, len(ids) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama-bin", default="/work/llama.cpp/build/bin")
    ap.add_argument("--keep", help="write the tiny GGUFs here instead of a temporary directory")
    ap.add_argument("--port", type=int, default=18432)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    args = ap.parse_args()
    ids = [int(i) for i in np.random.default_rng(99).integers(3, tiny.VOCAB, 24)]
    d = args.keep or tempfile.mkdtemp()
    os.makedirs(d, exist_ok=True)
    failed = False
    try:
        for name, (arch, hd, extra) in MODELS.items():
            path = os.path.join(d, name + ".gguf")
            w = random_weights(arch, hd)
            write_gguf(path, arch, hd, extra, w)
            m = ref.load(path)
            if arch != "gemma3":  # the HF loader (names, head_dim, rope_scaling) gives the same logits
                write_hf(os.path.join(d, name + "-hf"), arch, hd, w)
                hf_diff = float(np.abs(ref.forward(ref.load(os.path.join(d, name + "-hf")), ids)
                                       - ref.forward(m, ids)).max())
                failed |= hf_diff > 1e-4
                print(f"{name}: HF directory vs GGUF max |Δ logit| {hf_diff:.2e}")
            # Gemma: compared with llama.cpp's f16-table GELU in the reference, then (for information) the exact one
            variants = ([reference_logits(m, ids, gelu_tanh_f16_table), reference_logits(m, ids)]
                        if arch == "gemma3" else [reference_logits(m, ids)])
            proc = cc.start_server(args.llama_bin, path, args.port, 1,
                                   ["-ctk", "f32", "-ctv", "f32", "-fa", "off"])
            try:
                worst, agree, compared, n = compare(args.port, variants, ids)
            finally:
                proc.terminate(); proc.wait()
            failed |= worst[0] > args.tolerance
            print(f"{name}: max |Δ log-prob| over top-5 {worst[0]:.2e} ({compared} of {n} prefixes), "
                  f"top-1 agreement {agree}/{n}" + (f"; with the exact GELU {worst[1]:.2e}" if arch == "gemma3" else ""))
    finally:
        if not args.keep:
            shutil.rmtree(d)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
