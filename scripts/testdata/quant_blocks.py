#!/usr/bin/env python3
"""Random and edge-case blocks of every GGUF encoding Brigade reads, with the values gguf-py dequantizes them to.

    python3 quant_blocks.py --out $BRIGADE_TESTDATA    (other arguments of scripts/prepare-test-data are ignored)

Writes DIR/quant-blocks/<TYPE>.blocks.bin (raw little-endian blocks, back to back), <TYPE>.values.bin (the float32
values of `gguf.quants.dequantize` on those bytes, little-endian) and manifest.json (per type: ggml id, block size in
elements and bytes, block count, the files, and the names of the edge-case blocks at the end of the file).

Quantized blocks have random bytes except their f16 scale fields, which get sane values: |d| in [1e-3, 1] on a log
scale, either sign. After the random blocks come edge cases: all quant bytes 0x00 or 0xFF (with d = ±1), zero scales
(+0 and -0), every scale negative, the largest finite f16 scale, subnormal scales. F16 and BF16 list all 65536 bit
patterns; F32 has random finite values plus ±0, ±inf, NaN and subnormals. Fixed seeds: the bytes are reproducible.
"""
import argparse, json, os, sys, time
import numpy as np
import gguf

Q = gguf.GGMLQuantizationType
RANDOM_BLOCKS = 300

# Byte offsets of the f16 scale fields (d, and m or dmin) of each quantized block, in gguf-py's layout.
HALF_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
    Q.IQ4_NL: [0], Q.IQ4_XS: [0],
}
FLOAT_TYPES = [Q.F32, Q.F16, Q.BF16]


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def sane_scales(rng, n):
    """n f16 scales with |d| in [1e-3, 1] (log-uniform) and a random sign."""
    magnitude = 10.0 ** rng.uniform(-3, 0, n)
    return np.where(rng.random(n) < 0.5, -magnitude, magnitude)


def quant_blocks(qtype, rng):
    """(blocks as uint8 [n, block_bytes], names of the edge cases that end the array)."""
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    fields = HALF_FIELDS[qtype]
    blocks = rng.integers(0, 256, (RANDOM_BLOCKS, size), dtype=np.uint8)
    for at in fields:
        blocks[:, at:at + 2] = f16_bytes(sane_scales(rng, RANDOM_BLOCKS))

    edges, names = [], []

    def edge(name, fill=None, scales=None):
        block = rng.integers(0, 256, size, dtype=np.uint8) if fill is None else np.full(size, fill, dtype=np.uint8)
        values = scales if scales is not None else sane_scales(rng, len(fields))
        for at, value in zip(fields, values):
            block[at:at + 2] = f16_bytes([value])[0]
        edges.append(block); names.append(name)

    for d in (1.0, -1.0):
        edge(f"all quant bytes 0xFF, scales {d:+}", 0xFF, [d] * len(fields))
        edge(f"all quant bytes 0x00, scales {d:+}", 0x00, [d] * len(fields))
    edge("zero scales", None, [0.0] * len(fields))
    edge("negative zero scales", None, [-0.0] * len(fields))
    edge("zero d, nonzero second scale", None, [0.0] + [0.5] * (len(fields) - 1))
    edge("negative scales", None, -np.abs(sane_scales(rng, len(fields))))
    edge("negative scales, all quant bytes 0xFF", 0xFF, -np.abs(sane_scales(rng, len(fields))))
    edge("largest f16 scales, all quant bytes 0xFF", 0xFF, [65504.0] * len(fields))
    edge("largest negative f16 scales", None, [-65504.0] * len(fields))
    edge("subnormal f16 scales", None, [2.0 ** -24, -(2.0 ** -20)][:len(fields)])
    return np.concatenate([blocks, np.stack(edges)]), names


def float_elements(qtype, rng):
    if qtype in (Q.F16, Q.BF16):
        return np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(-1, 2), ["every bit pattern"]
    values = (rng.standard_normal(500) * 10.0 ** rng.uniform(-6, 6, 500)).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38], dtype=np.float32)
    names = ["+0", "-0", "+inf", "-inf", "NaN", "smallest subnormal", "negative subnormal", "largest subnormal", "largest"]
    return np.concatenate([values, special]).view(np.uint8).reshape(-1, 4), names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True); ap.add_argument("--model"); ap.add_argument("--llama")
    root = os.path.join(ap.parse_args().out, "quant-blocks")
    os.makedirs(root, exist_ok=True)
    t0 = time.time()
    manifest = {"gguf_version": getattr(gguf, "__version__", None) or _package_version(), "types": []}
    for qtype in FLOAT_TYPES + list(HALF_FIELDS):
        rng = np.random.default_rng(1000 + int(qtype))
        blocks, edge_names = (float_elements if qtype in FLOAT_TYPES else quant_blocks)(qtype, rng)
        elements, size = gguf.GGML_QUANT_SIZES[qtype]
        assert blocks.shape[1] == size
        raw = np.ascontiguousarray(blocks).reshape(-1)
        values = np.asarray(gguf.quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)
        assert values.size == len(blocks) * elements
        name = qtype.name
        with open(os.path.join(root, f"{name}.blocks.bin"), "wb") as f:
            f.write(raw.tobytes())
        with open(os.path.join(root, f"{name}.values.bin"), "wb") as f:
            f.write(values.astype("<f4").tobytes())
        manifest["types"].append({
            "name": name, "ggml_type": int(qtype), "block_elements": elements, "block_bytes": size,
            "blocks": len(blocks), "edge_cases": edge_names,
            "blocks_file": f"{name}.blocks.bin", "values_file": f"{name}.values.bin",
        })
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"quant_blocks: {len(manifest['types'])} encodings in {root} ({time.time() - t0:.1f} s)", file=sys.stderr)


def _package_version():
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    main()
