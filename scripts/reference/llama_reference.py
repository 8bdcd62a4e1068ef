#!/usr/bin/env python3
"""Plain numpy reference forward pass: Llama family (Llama 2/3.x, SmolLM2, Qwen2, Qwen3) and Gemma 3.

Loads a GGUF file (any tensor type `gguf.quants.dequantize` knows: F32/F16/BF16, Q4_0 ... Q8_0, Q4_K ... Q6_K) or a
Hugging Face directory (`config.json` plus `model.safetensors` or a sharded `model.safetensors.index.json`; llama,
qwen2, qwen3 model types) and computes float32 logits for every position of a token-id sequence (full recompute
with a causal mask, no KV cache). Golden values for Brigade's forward-pass tests.

    python3 llama_reference.py MODEL.gguf --ids 1,2,3 [--json out.json]
    python3 llama_reference.py HF_DIR     --ids 1,2,3 [--json out.json]

As a library: `m = load(path); logits = forward(m, ids)`  -> float32 array (len(ids), vocab);
`forward(m, ids, last=1)` computes the output head for the last position only.

Each architecture is one small module (llama.py, gemma3.py) over shared layers (layers.py). Every tensor is
dequantized once, at load, to float32 (out, in) matrices under GGUF tensor names; HF names are mapped onto them.
RoPE pairing: llama.cpp's converter permutes HF Q/K rows for architecture `llama`, so those GGUFs rotate adjacent
pairs (x[2i], x[2i+1]); HF checkpoints and qwen2/qwen3/gemma3 GGUFs (NeoX mode) rotate halves (x[i], x[i+d/2]).
"""
import argparse, json, os, re, sys
from dataclasses import dataclass
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemma3  # noqa: E402
import llama  # noqa: E402

ARCHITECTURES = {"llama": llama, "qwen2": llama, "qwen3": llama, "gemma3": gemma3}  # general.architecture -> module
HF_MODEL_TYPES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}  # config.json model_type -> architecture


@dataclass
class Model:
    cfg: dict  # layers, hidden, heads, kv_heads, head_dim, ffn, vocab, eps, theta, rope ("pairs" | "halves"), ...
    w: dict    # GGUF tensor name -> float32 array, matrices (out, in)
    arch: str = "llama"  # GGUF general.architecture (HF model_type mapped onto it)


def load(path):
    return load_hf(path) if os.path.isdir(path) else load_gguf(path)


def forward(m, ids, last=None):
    """float32 logits (len(ids), vocab) for every position, or (last, vocab) for the last `last` positions."""
    return ARCHITECTURES[m.arch].forward(m, ids, last)


def gguf_tensors(reader):
    """Every tensor of a GGUFReader dequantized once to float32, shaped (rows, columns) = (out, in)."""
    from gguf.quants import dequantize
    return {t.name: dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            .reshape([int(x) for x in t.shape[::-1]]) for t in reader.tensors}


def load_gguf(path):
    from gguf import GGUFReader
    r = GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    if arch not in ARCHITECTURES:
        raise ValueError(f"{path}: architecture {arch!r} is not supported (known: {sorted(ARCHITECTURES)})")
    F = lambda k, d=None: r.fields[f"{arch}.{k}"].contents() if f"{arch}.{k}" in r.fields else d
    w = gguf_tensors(r)
    return Model(ARCHITECTURES[arch].config_from_gguf(path, arch, F, w), w, arch)


HF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
            "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}


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
    arch = HF_MODEL_TYPES.get(c.get("model_type", "llama"))
    if arch is None:
        raise ValueError(f"{d}: model_type {c.get('model_type')!r} is not supported (known: {sorted(HF_MODEL_TYPES)})")
    index = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    w = {}
    for f in files:
        w.update({hf_to_gguf_name(k): v for k, v in read_safetensors(os.path.join(d, f)).items()})
    if c.get("tie_word_embeddings", True):  # HF ties lm_head to the embedding even if lm_head.weight was saved
        w.pop("output.weight", None)
    return Model(ARCHITECTURES[arch].config_from_hf(d, c, w), w, arch)


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
