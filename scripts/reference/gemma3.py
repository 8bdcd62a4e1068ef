"""Gemma 3 text decoder, as llama.cpp runs a `gemma3` GGUF.

- embeddings × √hidden (a float32 scale);
- per layer: h = x + post_attention_norm(attn(attn_norm(x))), x = h + post_ffw_norm(ffn(ffn_norm(h)));
- Q and K RMS-normalized per head (`attn_q_norm`, `attn_k_norm`) before NeoX (rotate-halves) RoPE;
- attention scale 1/√key_length (the 27B model, 62 layers, uses 1/√(hidden / heads), as llama.cpp does);
- FFN: GELU (tanh approximation) of the gate, times up;
- sliding-window layers (llama.cpp: il % pattern < pattern - 1, pattern 6 unless the file says otherwise) see the
  token itself and the window - 1 before it and use RoPE base `rope.freq_base_swa` (10,000 by default), unscaled;
  the other (global) layers use `rope.freq_base` and the file's linear `rope.scaling.*`;
- final RMSNorm, output head tied to the embedding unless `output.weight` exists, optional final logit softcapping.
The GGUF norm weights already hold Gemma's `1 + weight`: they multiply as stored.
"""
import numpy as np

from layers import attention, attention_mask, gelu_tanh, linear, rmsnorm, rope, rope_inv_freq


def sliding_layers(n_layers, pattern):
    """Which layers use the sliding window. pattern: an int period (the last layer of each period is global) or a
    per-layer list of booleans (GGUF `attention.sliding_window_pattern` may be either)."""
    if isinstance(pattern, (list, tuple)):
        return [bool(b) for b in pattern[:n_layers]]
    return [pattern == 0 or il % pattern < pattern - 1 for il in range(n_layers)]


def config_from_gguf(path, arch, F, w):
    """cfg dict from the GGUF metadata (F(key, default) reads `gemma3.{key}`) and the dequantized tensors w."""
    D, H, L = F("embedding_length"), F("attention.head_count"), F("block_count")
    hd = F("attention.key_length", D // H)
    if F("attention.value_length", hd) != hd or F("rope.dimension_count", hd) != hd:
        raise ValueError(f"{path}: value_length / rope.dimension_count != key_length is not supported")
    window = F("attention.sliding_window", 0)
    scaling = F("rope.scaling.type", "none")
    if scaling not in ("none", "linear"):
        raise ValueError(f"{path}: rope.scaling.type {scaling!r} is not supported (linear only)")
    return dict(
        layers=L, hidden=D, heads=H, kv_heads=F("attention.head_count_kv", H), head_dim=hd,
        ffn=F("feed_forward_length"), vocab=w["token_embd.weight"].shape[0],
        eps=F("attention.layer_norm_rms_epsilon"), theta=F("rope.freq_base", 10000.0), rope="halves",
        rope_pos_scale=1.0 / F("rope.scaling.factor", 1.0) if scaling == "linear" else 1.0,
        theta_swa=F("rope.freq_base_swa", 10000.0), sliding_window=window or None,
        sliding=sliding_layers(L, F("attention.sliding_window_pattern", 6)) if window else [False] * L,
        attn_scale=float(1 / np.sqrt(D / H if L == 62 else hd)),
        final_logit_softcapping=F("final_logit_softcapping", 0.0) or None)


def forward(m, ids, last=None):
    """float32 logits for every position of ids (or only the last `last` positions)."""
    c, W = m.cfg, m.w
    H, KVH, HD, eps = c["heads"], c["kv_heads"], c["head_dim"], c["eps"]
    T = len(ids)
    x = W["token_embd.weight"][np.asarray(ids)] * np.float32(np.sqrt(c["hidden"]))
    pos = np.arange(T)
    local = dict(inv_freq=rope_inv_freq(HD, c["theta_swa"]), pos_scale=1.0, mask=attention_mask(T, c["sliding_window"]))
    glob = dict(inv_freq=rope_inv_freq(HD, c["theta"]), pos_scale=c["rope_pos_scale"], mask=attention_mask(T))
    for l in range(c["layers"]):
        p, kind = f"blk.{l}.", local if c["sliding"][l] else glob
        h = rmsnorm(x, W[p + "attn_norm.weight"], eps)
        q = rmsnorm(linear(W, h, p + "attn_q").reshape(T, H, HD), W[p + "attn_q_norm.weight"], eps)
        k = rmsnorm(linear(W, h, p + "attn_k").reshape(T, KVH, HD), W[p + "attn_k_norm.weight"], eps)
        v = linear(W, h, p + "attn_v").reshape(T, KVH, HD)
        q = rope(q, pos, kind["inv_freq"], "halves", kind["pos_scale"])
        k = rope(k, pos, kind["inv_freq"], "halves", kind["pos_scale"])
        a = attention(q, k, v, c["attn_scale"], kind["mask"]) @ W[p + "attn_output.weight"].T
        x = x + rmsnorm(a, W[p + "post_attention_norm.weight"], eps)
        h = rmsnorm(x, W[p + "ffn_norm.weight"], eps)
        f = (gelu_tanh(linear(W, h, p + "ffn_gate")) * linear(W, h, p + "ffn_up")) @ W[p + "ffn_down.weight"].T
        x = x + rmsnorm(f, W[p + "post_ffw_norm.weight"], eps)
    if last is not None:
        x = x[-last:]
    out = W.get("output.weight", W["token_embd.weight"])
    logits = rmsnorm(x, W["output_norm.weight"], eps) @ out.T
    cap = c["final_logit_softcapping"]
    if cap:
        logits = np.tanh(logits / np.float32(cap)) * np.float32(cap)
    return logits.astype(np.float32)
