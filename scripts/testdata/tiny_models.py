#!/usr/bin/env python3
"""Tiny random Llama-family models plus numpy reference logits: fixtures for Brigade's loaders and forward pass.

    python3 tiny_models.py --out $BRIGADE_TESTDATA    (other arguments of scripts/prepare-test-data are ignored)

Writes DIR/tiny/<name>/ for every model in MODELS and DIR/tiny/manifest.json. Every model has hidden 64, 4 heads of
16, 2 KV heads, FFN 96, 3 layers, RoPE theta 10000, RMSNorm eps 1e-5 and the same 302-token byte-level BPE vocab
(3 control tokens, 256 GPT-2 byte tokens, 43 merges). Each directory holds the model (`model.gguf`, or an HF
directory layout), `reference.json` (logits of all positions for 4 fixed id sequences, computed by
scripts/reference/llama_reference.py from the written files) and, for GGUF, `dequant.json` (first 64 dequantized
values of a few tensors, exact float32). Weights come from fixed seeds, so the output is byte-for-byte reproducible.
GGUF Q/K rows (and biases) are permuted the way llama.cpp's converter does for architecture `llama` (adjacent-pair
RoPE); HF files and the `qwen2` GGUF are unpermuted (rotate-half RoPE).
"""
import argparse, json, os, re, shutil, sys, time
import numpy as np
import gguf
import safetensors
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, AddedToken

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import llama_reference as ref  # noqa: E402
from layers import llama3_freq_factors  # noqa: E402

D, H, KVH, HD, FFN, LAYERS, THETA, EPS, CTX = 64, 4, 2, 16, 96, 3, 10000.0, 1e-5, 128
SEQ_LENGTHS, SEQ_SEED = (1, 5, 17, 40), 1234
Q = gguf.GGMLQuantizationType

# ---- tokenizer: control tokens, 256 byte tokens (GPT-2 byte -> unicode form), a few merges ----
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1 (bos), 2 (eos)
MERGES = ("Ġ t|h e|Ġ a|i n|e r|Ġt he|o n|r e|a t|Ġ s|e n|o u|Ġ w|i s|Ġ o|Ġ c|e s|in g|Ġ b|a n|Ġ f|l l|Ġ m|o r|"
          "Ġ i|i t|Ġ h|Ġ d|Ġ p|u s|us er|a s|an t|as s|is t|ass ist|assist ant|Ċ Ċ|Ġ Ġ|Ġ is|o w|Ġw h|Ġwh at").split("|")
CHAT_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                 "{{ '<|im_start|>system\\nYou are a tiny test model.<|im_end|>\\n' }}{% endif %}"
                 "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
TOKENIZER_EXAMPLES = ["<|im_start|>user\nWhat is the answer?<|im_end|>\n<|im_start|>assistant\n",
                      "The cat sat on the mat 12 times.\n\nThe end", "héllo  日本 🙂"]


def byte_symbols():
    """GPT-2's reversible byte -> printable unicode map, indexed by byte value."""
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    out, extra = [], 0
    for b in range(256):
        if b in printable:
            out.append(chr(b))
        else:
            out.append(chr(0x100 + extra)); extra += 1
    return out


def vocab():
    tokens = CONTROL + byte_symbols()
    for m in MERGES:
        a, b = m.split(" ")
        assert a in tokens and b in tokens and a + b not in tokens, m
        tokens.append(a + b)
    return tokens


TOKENS = vocab()
VOCAB = len(TOKENS)


def hf_tokenizer():
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(TOKENS)}, merges=[tuple(m.split(" ")) for m in MERGES]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in CONTROL])
    return tok


# ---- weights: canonical (HF, unpermuted) layout under GGUF names, (out, in) float32 ----
def random_weights(seed, bias=False, extra=()):
    """extra: "qk_norm" (Qwen3/Gemma 3 per-head Q/K norms), "post_norms" (Gemma 3's norms after attention and FFN)."""
    rng = np.random.default_rng(seed)
    n = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)
    w = {"token_embd.weight": n(VOCAB, D, s=0.25), "output_norm.weight": 1 + n(D, s=0.1)}
    for l in range(LAYERS):
        p = f"blk.{l}."
        w[p + "attn_norm.weight"], w[p + "ffn_norm.weight"] = 1 + n(D, s=0.1), 1 + n(D, s=0.1)
        w[p + "attn_q.weight"], w[p + "attn_k.weight"] = n(H * HD, D, s=1.5 / D**0.5), n(KVH * HD, D, s=1.5 / D**0.5)
        w[p + "attn_v.weight"], w[p + "attn_output.weight"] = n(KVH * HD, D, s=D**-0.5), n(D, H * HD, s=(H * HD)**-0.5)
        w[p + "ffn_gate.weight"], w[p + "ffn_up.weight"] = n(FFN, D, s=D**-0.5), n(FFN, D, s=D**-0.5)
        w[p + "ffn_down.weight"] = n(D, FFN, s=FFN**-0.5)
        if bias:
            w[p + "attn_q.bias"], w[p + "attn_k.bias"], w[p + "attn_v.bias"] = n(H * HD, s=0.3), n(KVH * HD, s=0.3), n(KVH * HD, s=0.3)
        if "qk_norm" in extra:
            w[p + "attn_q_norm.weight"], w[p + "attn_k_norm.weight"] = 1 + n(HD, s=0.2), 1 + n(HD, s=0.2)
        if "post_norms" in extra:
            w[p + "post_attention_norm.weight"], w[p + "post_ffw_norm.weight"] = 1 + n(D, s=0.1), 1 + n(D, s=0.1)
    w["output.weight"] = n(VOCAB, D, s=0.25)  # only written by untied variants
    return w


# Llama 3.1-style RoPE scaling on the tiny head (16 dims, θ 10000): an original context of 16 positions puts the
# 8 pairs' wavelengths on both sides of the interpolation band, so the divisors are 1, interpolated and `factor`.
LLAMA3_SCALING = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
# Gemma 3 on the tiny model: a window of 8 (the reference sequences reach 40 tokens), the middle layer global.
GEMMA_WINDOW, GEMMA_LOCAL_LAYERS, GEMMA_LOCAL_THETA = 8, [True, False, True], 500.0


def permute_qk(a, heads):
    """llama.cpp converter: within each head, rows (i, i + d/2) become the adjacent pair (2i, 2i + 1)."""
    return a.reshape(heads, 2, a.shape[0] // heads // 2, *a.shape[1:]).swapaxes(1, 2).reshape(a.shape)


def gguf_name_to_hf():
    names = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"] + [
        f"model.layers.{l}.{k}.{s}" for l in range(LAYERS) for k in ref.HF_NAMES for s in ("weight", "bias")]
    return {ref.hf_to_gguf_name(n): n for n in names}


# ---- writers ----
FILE_TYPE = {Q.F32: 0, Q.F16: 1, Q.Q4_0: 2, Q.Q4_1: 3, Q.Q8_0: 7, Q.Q5_0: 8, Q.Q5_1: 9, Q.BF16: 32}


def write_gguf(path, w, wtype, embd_type, arch, untied, rope_scaling=False, split_max_tensors=0):
    """split_max_tensors > 0 writes llama.cpp's gguf-split layout (PATH-00001-of-0000N.gguf, …) instead of PATH."""
    wr = gguf.GGUFWriter(path, arch, split_max_tensors=split_max_tensors)
    wr.add_name(f"Brigade tiny {os.path.basename(os.path.dirname(path))}"); wr.add_type("model")
    wr.add_file_type(FILE_TYPE[wtype]); wr.add_quantization_version(gguf.GGML_QUANT_VERSION)
    wr.add_context_length(CTX); wr.add_embedding_length(D); wr.add_block_count(LAYERS); wr.add_feed_forward_length(FFN)
    wr.add_head_count(H); wr.add_head_count_kv(KVH); wr.add_rope_dimension_count(HD); wr.add_rope_freq_base(THETA)
    wr.add_layer_norm_rms_eps(EPS); wr.add_vocab_size(VOCAB)
    wr.add_tokenizer_model("gpt2"); wr.add_tokenizer_pre("smollm"); wr.add_token_list(TOKENS)
    wr.add_token_types([3] * len(CONTROL) + [1] * (VOCAB - len(CONTROL))); wr.add_token_merges(MERGES)
    if arch == "gemma3":
        wr.add_key_length(HD); wr.add_value_length(HD); wr.add_sliding_window(GEMMA_WINDOW)
        wr.add_array("gemma3.attention.sliding_window_pattern", GEMMA_LOCAL_LAYERS)
        wr.add_float32("gemma3.rope.freq_base_swa", GEMMA_LOCAL_THETA)
    wr.add_bos_token_id(1); wr.add_eos_token_id(2); wr.add_unk_token_id(0); wr.add_pad_token_id(2)
    wr.add_add_bos_token(False); wr.add_add_space_prefix(False); wr.add_chat_template(CHAT_TEMPLATE)
    order = ["token_embd.weight"] + [k for l in range(LAYERS) for k in w if k.startswith(f"blk.{l}.")] + ["output_norm.weight"]
    order += ["output.weight"] if untied else []
    if rope_scaling:
        w = dict(w, **{"rope_freqs.weight": llama3_freq_factors(HD, THETA, **LLAMA3_SCALING).astype(np.float32)})
        order.append("rope_freqs.weight")
    for name in order:
        a = w[name]
        if arch == "llama" and (".attn_q." in name or ".attn_k." in name):
            a = permute_qk(a, H if ".attn_q." in name else KVH)
        t = Q.F32 if a.ndim == 1 else embd_type if name in ("token_embd.weight", "output.weight") else wtype
        wr.add_tensor(name, gguf.quants.quantize(a, t), raw_dtype=t)
    wr.write_header_to_file(); wr.write_kv_data_to_file(); wr.write_tensors_to_file(); wr.close()


ST_CODE = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}  # safetensors header dtype codes
ST_DTYPE = {"float32": ("float32", np.float32), "float16": ("float16", np.float16), "bfloat16": ("bfloat16", None)}


def write_safetensors(path, tensors, dtype):
    st_name, np_type = ST_DTYPE[dtype]
    keep = {k: np.ascontiguousarray(v.astype(np_type) if np_type else gguf.quants.quantize(v, Q.BF16).view(np.uint16))
            for k, v in tensors.items()}  # BF16: round-to-nearest-even bits, same as gguf/ggml
    specs = {k: safetensors.TensorSpec(dtype=st_name, shape=list(tensors[k].shape), data_ptr=a.ctypes.data,
                                       data_len=a.nbytes) for k, a in keep.items()}
    safetensors.serialize_file(specs, path, metadata={"format": "pt"}); os.chmod(path, 0o644)
    return sum(a.nbytes for a in keep.values())


def write_hf(d, w, dtype, arch, untied, shards, rope_scaling=False):
    names = gguf_name_to_hf()
    t = {names[k]: v for k, v in w.items() if k != "output.weight" or untied}
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), t, dtype)
    else:  # shard 1: embedding + all but the last layer; shard 2: the rest
        files = [f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
        first = lambda k: k == "model.embed_tokens.weight" or k.startswith("model.layers.") and int(k.split(".")[2]) < LAYERS - 1
        parts = [{k: v for k, v in t.items() if first(k)}, {k: v for k, v in t.items() if not first(k)}]
        total = sum(write_safetensors(os.path.join(d, f), p, dtype) for f, p in zip(files, parts))
        index = {"metadata": {"total_size": total}, "weight_map": {k: f for f, p in zip(files, parts) for k in sorted(p)}}
        json.dump(index, open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)
    qwen = arch in ("qwen2", "qwen3")
    classes = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
    cfg = {"architectures": [classes[arch]], "model_type": arch,
           "hidden_size": D, "intermediate_size": FFN, "num_attention_heads": H, "num_key_value_heads": KVH,
           "num_hidden_layers": LAYERS, "head_dim": HD, "hidden_act": "silu", "rms_norm_eps": EPS, "rope_theta": THETA,
           "rope_scaling": dict(LLAMA3_SCALING, rope_type="llama3") if rope_scaling else None, "vocab_size": VOCAB, "tie_word_embeddings": not untied, "max_position_embeddings": CTX,
           "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": dtype, "use_cache": True, "initializer_range": 0.02}
    cfg.update({"use_sliding_window": False, "sliding_window": CTX, "max_window_layers": LAYERS} if qwen
               else {"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    hf_tokenizer().save(os.path.join(d, "tokenizer.json"))
    special = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                        "special": True} for i, t in enumerate(CONTROL)}
    tcfg = {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": special,
            "bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>",
            "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False, "model_max_length": CTX,
            "tokenizer_class": "GPT2Tokenizer"}
    json.dump(tcfg, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)


# ---- the models ----
# name: (format, weights seed, qkv bias, arch, weight type, embedding/output type, untied[, Llama 3 RoPE scaling])
# Seeds: 1 plain, 2 with Q/K/V biases, 3 with Q/K norms (Qwen3), 4 with Q/K norms and post norms (Gemma 3).
MODELS = {
    "f32":          ("gguf", 1, False, "llama", Q.F32,  Q.F32,  False),
    "f16":          ("gguf", 1, False, "llama", Q.F16,  Q.F16,  False),
    "bf16":         ("gguf", 1, False, "llama", Q.BF16, Q.BF16, False),
    "q8_0":         ("gguf", 1, False, "llama", Q.Q8_0, Q.Q8_0, False),
    "q4_0":         ("gguf", 1, False, "llama", Q.Q4_0, Q.Q4_0, False),
    "q4_1":         ("gguf", 1, False, "llama", Q.Q4_1, Q.Q8_0, False),  # embedding Q8_0, as in SmolLM2's Q4_1 file
    "q8_0_untied":  ("gguf", 1, False, "llama", Q.Q8_0, Q.Q8_0, True),
    "f32_qkv_bias": ("gguf", 2, True,  "llama", Q.F32,  Q.F32,  False),
    "qwen2_f32":    ("gguf", 2, True,  "qwen2", Q.F32,  Q.F32,  False),
    "hf_f32":       ("hf",   1, False, "llama", "float32",  None, False),  # single file
    "hf_bf16":      ("hf",   1, False, "llama", "bfloat16", None, True),   # 2 shards + index, untied lm_head
    "hf_qwen2":     ("hf",   2, True,  "qwen2", "float32",  None, False),
    "q5_0":         ("gguf", 1, False, "llama", Q.Q5_0, Q.Q8_0, False),
    "q5_1":         ("gguf", 1, False, "llama", Q.Q5_1, Q.Q5_0, True),
    "qwen3_f32":    ("gguf", 3, False, "qwen3", Q.F32,  Q.F32,  False),
    "hf_qwen3":     ("hf",   3, False, "qwen3", "float32",  None, False),
    "gemma3_f32":   ("gguf", 4, False, "gemma3", Q.F32, Q.F32,  False),
    "gemma3_q8_0":  ("gguf", 4, False, "gemma3", Q.Q8_0, Q.Q8_0, False),
    "llama3_rope":  ("gguf", 1, False, "llama", Q.F32,  Q.F32,  False, True),
    "hf_llama3_rope": ("hf", 1, False, "llama", "float32",  None, False, True),
    "f32_split":    ("gguf", 1, False, "llama", Q.F32,  Q.F32,  False, False, 12),  # 3 shards of at most 12 tensors
    "q8_0_untied_split": ("gguf", 1, False, "llama", Q.Q8_0, Q.Q8_0, True, False, 12),  # output.weight in the last shard
}
SAME_WEIGHTS = [("f32", "hf_f32"), ("f32_qkv_bias", "hf_qwen2"), ("qwen2_f32", "hf_qwen2"), ("qwen3_f32", "hf_qwen3"),
                ("llama3_rope", "hf_llama3_rope")]  # must agree to ~1e-5


def sequences():
    rng = np.random.default_rng(SEQ_SEED)
    return [[1] + [int(i) for i in rng.integers(0, VOCAB, n - 1)] for n in SEQ_LENGTHS]


f9 = lambda a: [float(f"{v:.9g}") for v in np.asarray(a, np.float32).ravel()]  # shortest text that round-trips float32


def dequant_fixture(path):
    r = gguf.GGUFReader(path)
    out = []
    for t in r.tensors:
        if t.name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "output.weight"):
            vals = gguf.quants.dequantize(t.data, t.tensor_type).ravel()[:64]
            out.append({"name": t.name, "type": t.tensor_type.name, "ne": [int(x) for x in t.shape],
                        "first_values": f9(vals)})
    return {"note": "first 64 values (row-major, row 0 first) of gguf.quants.dequantize on this file's tensors",
            "tensors": out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True); ap.add_argument("--model"); ap.add_argument("--llama")
    root = os.path.join(ap.parse_args().out, "tiny")
    t0 = time.time()
    shutil.rmtree(root, ignore_errors=True); os.makedirs(root)
    seqs, loaded, entries = sequences(), {}, []
    weights = {1: random_weights(1), 2: random_weights(2, bias=True), 3: random_weights(3, extra=("qk_norm",)),
               4: random_weights(4, extra=("qk_norm", "post_norms"))}
    for name, (fmt, seed, bias, arch, wtype, etype, untied, *options) in MODELS.items():
        d = os.path.join(root, name); os.makedirs(d)
        rope_scaling, split = (bool(options[0]) if options else False), (options[1] if len(options) > 1 else 0)
        if split:  # the shards, plus the same model unsplit (for the reference, which reads one file) outside d
            write_gguf(os.path.join(d, "model.gguf"), weights[seed], wtype, etype, arch, untied, rope_scaling, split)
            shards = sorted(f for f in os.listdir(d) if re.fullmatch(r"model-\d{5}-of-\d{5}\.gguf", f))
            assert len(shards) == 3, shards
            first_names = [t.name for t in gguf.GGUFReader(os.path.join(d, shards[0])).tensors]
            assert not untied or "output.weight" not in first_names, d  # the case a first-shard-only reader gets wrong
            whole = os.path.join(root, f".{name}-whole.gguf")
            write_gguf(whole, weights[seed], wtype, etype, arch, untied, rope_scaling)
            m = loaded[name] = ref.load(whole); os.remove(whole)
            path = os.path.join(d, shards[0])
        elif fmt == "gguf":
            path = os.path.join(d, "model.gguf"); write_gguf(path, weights[seed], wtype, etype, arch, untied, rope_scaling)
            json.dump(dequant_fixture(path), open(os.path.join(d, "dequant.json"), "w"))
        else:
            path = d; write_hf(d, weights[seed], wtype, arch, untied, shards=2 if wtype == "bfloat16" else 1,
                               rope_scaling=rope_scaling)
        if not split:
            m = loaded[name] = ref.load(path)
        logits = [ref.forward(m, s) for s in seqs]
        std = float(np.mean([l.std(-1).mean() for l in logits]))
        assert 0.5 < std < 5 and all(np.isfinite(l).all() for l in logits), (name, std)
        cfg = dict(m.cfg, architecture=arch, tied=not untied, qkv_bias=bias, context_length=CTX, bos=1, eos=2)
        json.dump({"sequences": [{"ids": s, "logits": [f9(row) for row in l]} for s, l in zip(seqs, logits)],
                   "config": cfg, "dequantized_max_abs_weight": float(max(np.abs(a).max() for a in m.w.values()))},
                  open(os.path.join(d, "reference.json"), "w"))
        wname = ST_CODE[wtype] if fmt == "hf" else wtype.name
        entries.append({"name": name, "format": fmt, "path": os.path.relpath(path, root), "architecture": arch,
                        "weight_type": wname, "embedding_type": etype.name if etype else wname,
                        "output": "untied" if untied else "tied", "qkv_bias": bias, "rope": m.cfg["rope"],
                        "weights_seed": seed, "sharded": (fmt == "hf" and wtype == "bfloat16") or bool(split),
                        "mean_logit_std": round(std, 4)})
    checks = {}
    for a, b in SAME_WEIGHTS:
        checks[f"{a} vs {b}"] = float(max(np.abs(ref.forward(loaded[a], s) - ref.forward(loaded[b], s)).max() for s in seqs))
        assert checks[f"{a} vs {b}"] < 1e-4, checks
    tok = hf_tokenizer()
    manifest = {"dims": {"hidden": D, "heads": H, "kv_heads": KVH, "head_dim": HD, "ffn": FFN, "layers": LAYERS,
                         "vocab": VOCAB, "rope_theta": THETA, "rms_norm_eps": EPS, "context_length": CTX},
                "sequences": seqs, "models": entries, "same_weights_max_abs_logit_diff": checks,
                "tokenizer_examples": [{"text": s, "ids": tok.encode(s).ids} for s in TOKENIZER_EXAMPLES]}
    text = re.sub(r"\[\s+([-\d.,\s]+?)\s+\]", lambda m: "[" + " ".join(m[1].split()) + "]",
                  json.dumps(manifest, indent=1, ensure_ascii=False))  # one line per id list
    open(os.path.join(root, "manifest.json"), "w").write(text + "\n")
    print(f"tiny_models: {len(entries)} models in {root} ({time.time() - t0:.1f} s); same-weights max |dlogit|: "
          + ", ".join(f"{k} {v:.2e}" for k, v in checks.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
