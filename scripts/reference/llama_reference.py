#!/usr/bin/env python3
"""Plain numpy reference forward pass for Llama-family models (Llama, SmolLM2, Qwen2-style Q/K/V biases).

Loads a GGUF file (any tensor type `gguf.quants.dequantize` knows) or a Hugging Face directory (`config.json` plus
`model.safetensors` or a sharded `model.safetensors.index.json`) and computes float32 logits for every position of a
token-id sequence (full recompute with a causal mask, no KV cache). Golden values for Brigade's forward-pass tests.

    python3 llama_reference.py MODEL.gguf --ids 1,2,3 [--json out.json]
    python3 llama_reference.py HF_DIR     --ids 1,2,3 [--json out.json]

As a library: `m = load(path); logits = forward(m, ids)`  -> float32 array (len(ids), vocab).

RoPE pairing: llama.cpp's converter permutes HF Q/K rows for architecture `llama`, so those GGUFs rotate adjacent
pairs (x[2i], x[2i+1]); HF checkpoints and `qwen2` GGUFs (unpermuted, NeoX mode) rotate halves (x[i], x[i+d/2]).
Weights are kept as (out, in) float32 under GGUF tensor names; HF names are mapped onto them.
"""
import argparse, json, os, re
from dataclasses import dataclass
import numpy as np

ROPE_STYLE = {"llama": "pairs", "qwen2": "halves"}  # GGUF general.architecture -> RoPE pairing


@dataclass
class Model:
    cfg: dict  # layers, hidden, heads, kv_heads, head_dim, ffn, vocab, eps, theta, rope ("pairs" | "halves")
    w: dict    # GGUF tensor name -> float32 array, matrices (out, in)


def load(path):
    return load_hf(path) if os.path.isdir(path) else load_gguf(path)


def load_gguf(path):
    from gguf import GGUFReader
    from gguf.quants import dequantize
    r = GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    if arch not in ROPE_STYLE:
        raise ValueError(f"{path}: architecture {arch!r} is not supported (known: {sorted(ROPE_STYLE)})")
    F = lambda k, d=None: r.fields[f"{arch}.{k}"].contents() if f"{arch}.{k}" in r.fields else d
    w = {t.name: dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in t.shape[::-1]])
         for t in r.tensors}
    D, H = F("embedding_length"), F("attention.head_count")
    hd = F("attention.key_length", D // H)
    if F("rope.dimension_count", hd) != hd:
        raise ValueError(f"{path}: partial RoPE (rope.dimension_count != head_dim) is not supported")
    cfg = dict(layers=F("block_count"), hidden=D, heads=H, kv_heads=F("attention.head_count_kv", H), head_dim=hd,
               ffn=F("feed_forward_length"), vocab=w["token_embd.weight"].shape[0],
               eps=F("attention.layer_norm_rms_epsilon"), theta=F("rope.freq_base", 10000.0), rope=ROPE_STYLE[arch])
    return Model(cfg, w)


HF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def hf_to_gguf_name(name):
    fixed = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if name in fixed:
        return fixed[name]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.(weight|bias)", name)
    if not m or m[2] not in HF_NAMES:
        raise ValueError(f"unexpected HF tensor name {name!r}")
    return f"blk.{m[1]}.{HF_NAMES[m[2]]}.{m[3]}"


def read_safetensors(path):
    """All tensors of one .safetensors file as float32 (numpy has no bfloat16, so BF16 is widened by hand)."""
    import safetensors
    with open(path, "rb") as f:
        items = safetensors.deserialize(f.read())
    out = {}
    for name, t in items:
        raw = bytes(t["data"])
        if t["dtype"] == "BF16":
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif t["dtype"] in ("F32", "F16"):
            a = np.frombuffer(raw, np.float32 if t["dtype"] == "F32" else np.float16).astype(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {t['dtype']}")
        out[name] = a.reshape(t["shape"])
    return out


def load_hf(d):
    c = json.load(open(os.path.join(d, "config.json")))
    if c.get("rope_scaling"):
        raise ValueError(f"{d}: rope_scaling {c['rope_scaling']} is not supported")
    index = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    w = {}
    for f in files:
        w.update({hf_to_gguf_name(k): v for k, v in read_safetensors(os.path.join(d, f)).items()})
    if c.get("tie_word_embeddings", True):  # HF ties lm_head to the embedding even if lm_head.weight was saved
        w.pop("output.weight", None)
    D, H = c["hidden_size"], c["num_attention_heads"]
    cfg = dict(layers=c["num_hidden_layers"], hidden=D, heads=H, kv_heads=c.get("num_key_value_heads", H),
               head_dim=c.get("head_dim") or D // H, ffn=c["intermediate_size"], vocab=c["vocab_size"],
               eps=c["rms_norm_eps"], theta=c.get("rope_theta", 10000.0), rope="halves")
    return Model(cfg, w)


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps) * w


def rope(x, pos, theta, style):  # x: (T, heads, head_dim)
    hd = x.shape[-1]
    ang = np.outer(pos, theta ** (-np.arange(0, hd, 2) / hd)); c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    if style == "pairs":
        x0, x1 = x[..., 0::2], x[..., 1::2]
    else:
        x0, x1 = x[..., : hd // 2], x[..., hd // 2:]
    r0, r1 = x0 * c - x1 * s, x0 * s + x1 * c
    out = np.empty_like(x)
    if style == "pairs":
        out[..., 0::2], out[..., 1::2] = r0, r1
    else:
        out[..., : hd // 2], out[..., hd // 2:] = r0, r1
    return out


def forward(m, ids):
    """float32 logits (len(ids), vocab) for every position."""
    c, W = m.cfg, m.w
    H, KVH, HD, eps = c["heads"], c["kv_heads"], c["head_dim"], c["eps"]
    lin = lambda h, name: h @ W[name + ".weight"].T + W.get(name + ".bias", 0)
    T = len(ids); x = W["token_embd.weight"][np.asarray(ids)]; pos = np.arange(T)
    mask = np.triu(np.full((T, T), -np.inf, np.float32), 1)
    for l in range(c["layers"]):
        p = f"blk.{l}."; h = rmsnorm(x, W[p + "attn_norm.weight"], eps)
        q = rope(lin(h, p + "attn_q").reshape(T, H, HD), pos, c["theta"], c["rope"])
        k = np.repeat(rope(lin(h, p + "attn_k").reshape(T, KVH, HD), pos, c["theta"], c["rope"]), H // KVH, 1)
        v = np.repeat(lin(h, p + "attn_v").reshape(T, KVH, HD), H // KVH, 1)
        a = np.einsum("thd,shd->hts", q, k) / np.float32(np.sqrt(HD)) + mask
        a = np.exp(a - a.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
        x = x + np.einsum("hts,shd->thd", a, v).reshape(T, H * HD) @ W[p + "attn_output.weight"].T
        h = rmsnorm(x, W[p + "ffn_norm.weight"], eps); g, u = lin(h, p + "ffn_gate"), lin(h, p + "ffn_up")
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "ffn_down.weight"].T
    out = W.get("output.weight", W["token_embd.weight"])  # tied when there is no separate output matrix
    return (rmsnorm(x, W["output_norm.weight"], eps) @ out.T).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="GGUF file or Hugging Face model directory")
    ap.add_argument("--ids", required=True, help="comma-separated token ids, e.g. 1,2,3")
    ap.add_argument("--json", help="write {ids, logits: [[vocab floats] per position]} here")
    a = ap.parse_args()
    ids = [int(t) for t in a.ids.split(",")]
    m = load(a.model); logits = forward(m, ids)
    print("config:", m.cfg)
    for t, row in enumerate(logits):
        top = np.argsort(-row)[:5]
        print(f"pos {t:3d} id {ids[t]:6d}  top5 " + "  ".join(f"{int(i)}:{row[i]:.4f}" for i in top))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ids": ids, "logits": [[float(f"{v:.9g}") for v in row] for row in logits]}, f)


if __name__ == "__main__":
    main()
