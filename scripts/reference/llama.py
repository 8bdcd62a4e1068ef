"""Llama-family decoder (Llama 2/3.x, SmolLM2, Qwen2, Qwen3): pre-norm blocks, GQA attention, SwiGLU FFN.

Differences between the members are data, not code: Qwen2 has Q/K/V biases (`attn_q.bias` ...), Qwen3 normalizes
Q and K per head (`attn_q_norm`, `attn_k_norm`) before RoPE, Llama 3.1+ scales RoPE frequencies (`rope_freqs.weight`
in GGUF, `rope_scaling` type llama3 in HF), and any of them may use linear RoPE scaling (positions / factor).
"""
import numpy as np

from layers import attention, attention_mask, linear, llama3_freq_factors, rmsnorm, rope, rope_inv_freq, silu

ROPE_STYLE = {"llama": "pairs", "qwen2": "halves", "qwen3": "halves"}  # GGUF general.architecture -> RoPE pairing


def config_from_gguf(path, arch, F, w):
    """cfg dict from GGUF metadata (F(key, default) reads `{arch}.{key}`) and the dequantized tensors w."""
    D, H = F("embedding_length"), F("attention.head_count")
    hd = F("attention.key_length", D // H)
    if F("rope.dimension_count", hd) != hd:
        raise ValueError(f"{path}: partial RoPE (rope.dimension_count != head_dim) is not supported")
    cfg = dict(layers=F("block_count"), hidden=D, heads=H, kv_heads=F("attention.head_count_kv", H), head_dim=hd,
               ffn=F("feed_forward_length"), vocab=w["token_embd.weight"].shape[0],
               eps=F("attention.layer_norm_rms_epsilon"), theta=F("rope.freq_base", 10000.0), rope=ROPE_STYLE[arch])
    scaling = F("rope.scaling.type", "none")
    if scaling == "linear" or (scaling == "none" and F("rope.scale_linear") is not None):
        cfg["rope_pos_scale"] = 1.0 / F("rope.scaling.factor", F("rope.scale_linear", 1.0))
    elif scaling != "none":
        raise ValueError(f"{path}: rope.scaling.type {scaling!r} is not supported (linear only)")
    return cfg


def config_from_hf(d, c, w):
    """cfg dict from a Hugging Face config.json c (llama, qwen2, qwen3 model types); llama3 scaling is turned into
    the per-pair divisors a GGUF would carry, stored as w["rope_freqs.weight"]."""
    D, H = c["hidden_size"], c["num_attention_heads"]
    hd = c.get("head_dim") or D // H
    cfg = dict(layers=c["num_hidden_layers"], hidden=D, heads=H, kv_heads=c.get("num_key_value_heads", H),
               head_dim=hd, ffn=c["intermediate_size"], vocab=c["vocab_size"], eps=c["rms_norm_eps"],
               theta=c.get("rope_theta", 10000.0), rope="halves")
    rs = c.get("rope_scaling")
    if rs:
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "llama3":
            w["rope_freqs.weight"] = llama3_freq_factors(hd, cfg["theta"], **{
                k: rs[k] for k in ("factor", "low_freq_factor", "high_freq_factor",
                                   "original_max_position_embeddings")}).astype(np.float32)
        elif kind == "linear":
            cfg["rope_pos_scale"] = 1.0 / rs["factor"]
        elif kind != "default":
            raise ValueError(f"{d}: rope_scaling {rs} is not supported (llama3, linear)")
    return cfg


def forward(m, ids, last=None):
    """float32 logits for every position of ids (or only the last `last` positions)."""
    c, W = m.cfg, m.w
    H, KVH, HD, eps = c["heads"], c["kv_heads"], c["head_dim"], c["eps"]
    T = len(ids)
    x = W["token_embd.weight"][np.asarray(ids)]
    pos = np.arange(T)
    inv_freq = rope_inv_freq(HD, c["theta"], W.get("rope_freqs.weight"))
    pos_scale = c.get("rope_pos_scale", 1.0)
    mask = attention_mask(T)
    for l in range(c["layers"]):
        p = f"blk.{l}."
        h = rmsnorm(x, W[p + "attn_norm.weight"], eps)
        q = linear(W, h, p + "attn_q").reshape(T, H, HD)
        k = linear(W, h, p + "attn_k").reshape(T, KVH, HD)
        v = linear(W, h, p + "attn_v").reshape(T, KVH, HD)
        if p + "attn_q_norm.weight" in W:  # Qwen3: RMSNorm over each head before RoPE
            q = rmsnorm(q, W[p + "attn_q_norm.weight"], eps)
            k = rmsnorm(k, W[p + "attn_k_norm.weight"], eps)
        q, k = rope(q, pos, inv_freq, c["rope"], pos_scale), rope(k, pos, inv_freq, c["rope"], pos_scale)
        x = x + attention(q, k, v, 1 / np.sqrt(HD), mask) @ W[p + "attn_output.weight"].T
        h = rmsnorm(x, W[p + "ffn_norm.weight"], eps)
        x = x + (silu(linear(W, h, p + "ffn_gate")) * linear(W, h, p + "ffn_up")) @ W[p + "ffn_down.weight"].T
    if last is not None:
        x = x[-last:]
    out = W.get("output.weight", W["token_embd.weight"])  # tied when there is no separate output matrix
    return (rmsnorm(x, W["output_norm.weight"], eps) @ out.T).astype(np.float32)
