"""Shared numpy building blocks of the reference forward passes (float32 activations, float64 RoPE angles).

Every function works on whole sequences: x is (T, hidden) or (T, heads, head_dim); nothing is cached.
"""
import numpy as np


def rmsnorm(x, w, eps):
    """x / sqrt(mean(x²) + eps) · w over the last axis (w multiplies as stored: Gemma's +1 is already in GGUF)."""
    return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps) * w


def silu(x):
    return x / (1 + np.exp(-x))


def gelu_tanh(x):
    """GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    return np.float32(0.5) * x * (1 + np.tanh(np.float32(np.sqrt(2 / np.pi)) * (x + np.float32(0.044715) * x ** 3)))


def gelu_tanh_f16_table(x):
    """GELU as llama.cpp's CPU backend computes it (GGML_GELU_FP16): x rounded to f16, the f16 result of a table,
    0 at or below -10 and x at or above 10. Only for comparing with llama.cpp; the reference uses gelu_tanh."""
    y = gelu_tanh(x.astype(np.float16).astype(np.float32)).astype(np.float16).astype(np.float32)
    return np.where(x <= -10, np.float32(0), np.where(x >= 10, x, y)).astype(np.float32)


def log_softmax(row):
    """Log-probabilities of one logits row, computed in float64."""
    row = np.asarray(row, np.float64)
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


# ---- RoPE ----

def rope_inv_freq(head_dim, theta, freq_factors=None, llama3=None):
    """Per-pair inverse frequencies θ^(-2i/d), i < d/2 (float64).

    freq_factors: per-pair divisors (GGUF `rope_freqs.weight`, as llama.cpp's `ggml_rope_ext` applies them).
    llama3: dict(factor, low_freq_factor, high_freq_factor, original_max_position_embeddings): Llama 3.1's
    scaling as Hugging Face `transformers` defines it (long wavelengths divided by factor, short ones kept, a
    linear blend in 1/wavelength between them).
    """
    inv = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if freq_factors is not None:
        inv = inv / np.asarray(freq_factors, np.float64)
    if llama3 is not None:
        inv = llama3_inv_freq(inv, **llama3)
    return inv


def llama3_inv_freq(inv, factor, low_freq_factor, high_freq_factor, original_max_position_embeddings):
    """Llama 3.1 frequency scaling of the base inverse frequencies `inv`."""
    old_ctx = float(original_max_position_embeddings)
    low_wavelen, high_wavelen = old_ctx / low_freq_factor, old_ctx / high_freq_factor
    wavelen = 2 * np.pi / inv
    smooth = (old_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * inv / factor + smooth * inv
    return np.where(wavelen < high_wavelen, inv, np.where(wavelen > low_wavelen, inv / factor, blended))


def llama3_freq_factors(head_dim, theta, **llama3):
    """The per-pair divisors a GGUF converter stores in `rope_freqs.weight` for Llama 3.1 scaling."""
    base = rope_inv_freq(head_dim, theta)
    return base / llama3_inv_freq(base, **llama3)


def rope(x, pos, inv_freq, style, pos_scale=1.0):
    """Rotate x (T, heads, head_dim) by angle pos·pos_scale·inv_freq[i] per pair.

    style "pairs" rotates (x[2i], x[2i+1]) (llama.cpp's normal mode, GGUF `llama`); "halves" rotates
    (x[i], x[i + d/2]) (NeoX mode: HF checkpoints, qwen2/qwen3/gemma3 GGUFs). pos_scale is linear RoPE scaling
    (1 / factor)."""
    hd = x.shape[-1]
    ang = np.outer(np.asarray(pos, np.float64) * pos_scale, inv_freq)
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
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


# ---- attention ----

def attention_mask(T, window=None):
    """(T, T) additive mask: query t sees key s when s <= t and, with a window, t - s < window (llama.cpp's
    LLAMA_SWA_TYPE_STANDARD: the token itself plus the window - 1 before it)."""
    t, s = np.arange(T)[:, None], np.arange(T)[None, :]
    visible = s <= t
    if window is not None:
        visible &= (t - s) < window
    return np.where(visible, np.float32(0), np.float32(-np.inf)).astype(np.float32)


def attention(q, k, v, scale, mask):
    """Softmax(q·kᵀ·scale + mask)·v per head. q (T, H, D); k, v (T, KVH, D) shared by H / KVH query heads each.
    Returns (T, H·D)."""
    T, H, D = q.shape
    group = H // k.shape[1]
    k, v = np.repeat(k, group, 1), np.repeat(v, group, 1)
    a = np.matmul(q.transpose(1, 0, 2), k.transpose(1, 2, 0)) * np.float32(scale) + mask  # (H, T, T)
    a = np.exp(a - a.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    return np.matmul(a, v.transpose(1, 0, 2)).transpose(1, 0, 2).reshape(T, H * D)


def linear(W, h, name):
    """h · W[name.weight]ᵀ (+ W[name.bias] when the model has one)."""
    out = h @ W[name + ".weight"].T
    bias = W.get(name + ".bias")
    return out if bias is None else out + bias
