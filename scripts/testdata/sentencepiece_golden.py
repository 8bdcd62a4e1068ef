#!/usr/bin/env python3
"""Golden data for Brigade's SentencePiece-style tokenizers, computed with Hugging Face `tokenizers`.

    python3 sentencepiece_golden.py --out $BRIGADE_TESTDATA --model ANY.gguf --llama $BRIGADE_TESTDATA/llama.cpp

Writes into OUT/tokenizers/ (deterministic, seeded):
  <name>/spm.json        the SentencePiece arrays of a GGUF file (tokens, scores, token types, special ids, flags) for
                         llama.cpp's ggml-vocab-llama-spm.gguf and ggml-vocab-phi-3.gguf, and Gemma 3 270M
                         (`scripts/fetch-model gemma3`) as gemma-3
  <name>/vectors.json    llama.cpp's .inp/.out test vectors of llama-spm and phi-3
  llama-spm/tokenizer.json, llama-spm/golden.json
                         the Llama 2 tokenizer.json rebuilt from the GGUF (BPE with byte_fallback and merges from the
                         scores, Prepend + Replace normalizer, Replace/ByteFallback/Fuse/Strip decoder), with ids and
                         decodes of the varied strings of tokenizers_golden.py
  llama-spm/metaspace_tokenizer.json, llama-spm/metaspace_golden.json
                         the same model with the newer Metaspace(prepend_scheme: first) pre-tokenizer and decoder
  gemma-3/tokenizer.json, gemma-3/golden.json
                         Gemma's tokenizer.json layout (Replace normalizer, no pre-tokenizer, Replace/ByteFallback/Fuse)

The ids llama.cpp itself gives for Gemma 3 come from llama-tokenize, which is not built here: they are a committed
fixture (Tests/TokenizationTests/Fixtures/gemma3-llama.cpp.json).
"""
import argparse
import os
import subprocess
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizers_golden import golden, read_metadata, read_vectors, varied_strings, write_json  # noqa: E402

SPM_VOCABS = ["llama-spm", "phi-3"]


def read_spm(path):
    """The tokenizer.ggml.* arrays and scalars of a SentencePiece GGUF file."""
    meta = read_metadata(path)

    def field(key, default=None):
        return meta.get("tokenizer.ggml." + key, default)

    assert field("model") == "llama", (path, field("model"))
    return {
        "tokens": field("tokens"),
        "scores": field("scores"),
        "token_types": field("token_type"),
        "bos": field("bos_token_id"),
        "eos": field("eos_token_id"),
        "unk": field("unknown_token_id"),
        "pad": field("padding_token_id"),
        "add_bos": field("add_bos_token"),
        "add_eos": field("add_eos_token"),
        "add_space_prefix": field("add_space_prefix"),
    }


def merges_from_scores(tokens, scores, types):
    """BPE merges equivalent to SentencePiece scores, as transformers' SentencePieceExtractor derives them: every
    split of a normal token into two tokens, ordered by the merged token's score (stable), then by the parts' ids."""
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = []
    order = sorted(range(len(tokens)), key=lambda i: -scores[i])
    for i in order:
        if types[i] != 1:
            continue
        piece = tokens[i]
        local = []
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                local.append((vocab[left], vocab[right], left, right))
        local.sort()
        merges += [(left, right) for _, _, left, right in local]
    return merges


def hf_spm_tokenizer(vocab, style):
    """An HF tokenizer equivalent to a SentencePiece GGUF vocabulary, laid out as `style` ("llama2", "metaspace"
    or "gemma") does it."""
    tokens, types, scores = vocab["tokens"], vocab["token_types"], vocab["scores"]
    unk = tokens[vocab["unk"]] if vocab["unk"] is not None else None
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges_from_scores(tokens, scores, types),
                     unk_token=unk, byte_fallback=True, fuse_unk=True)
    tok = Tokenizer(bpe)
    if style == "llama2":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    elif style == "metaspace":
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False),
                                         decoders.ByteFallback(), decoders.Fuse()])
    else:
        tok.normalizer = normalizers.Replace(" ", "▁")
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty in (2, 3)])
    user = [AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4]
    if user:
        tok.add_tokens(user)
    return tok


def gemma_path():
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([os.path.join(here, "..", "fetch-model"), "gemma3", "--print"], check=True,
                            stdout=subprocess.PIPE, text=True)
    return result.stdout.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", help="unused (the common generator interface)")
    ap.add_argument("--llama", required=True, help="directory of llama.cpp's ggml-vocab-*.gguf test files")
    ap.add_argument("--gemma", help="the Gemma 3 GGUF (default: scripts/fetch-model gemma3 --print)")
    args = ap.parse_args()
    out = os.path.join(args.out, "tokenizers")
    counts = {}
    for name in SPM_VOCABS:
        vocab = read_spm(os.path.join(args.llama, f"ggml-vocab-{name}.gguf"))
        write_json(os.path.join(out, name, "spm.json"), vocab)
        vectors = read_vectors(args.llama, name)
        write_json(os.path.join(out, name, "vectors.json"), vectors)
        counts[f"{name} vectors"] = len(vectors)

    llama = read_spm(os.path.join(args.llama, "ggml-vocab-llama-spm.gguf"))
    texts = varied_strings(["<s>", "</s>", "<unk>"])
    for style, prefix in (("llama2", ""), ("metaspace", "metaspace_")):
        tok = hf_spm_tokenizer(llama, style)
        tok.save(os.path.join(out, "llama-spm", f"{prefix}tokenizer.json"))
        write_json(os.path.join(out, "llama-spm", f"{prefix}golden.json"), {"strings": golden(tok, texts)})
        counts[f"llama-spm {style}"] = len(texts)

    gemma = read_spm(args.gemma or gemma_path())
    write_json(os.path.join(out, "gemma-3", "spm.json"), gemma)
    specials = ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<start_of_image>", "[multimodal]"]
    gemma_texts = varied_strings(specials)
    tok = hf_spm_tokenizer(gemma, "gemma")
    tok.save(os.path.join(out, "gemma-3", "tokenizer.json"))
    write_json(os.path.join(out, "gemma-3", "golden.json"), {"strings": golden(tok, gemma_texts)})
    counts["gemma-3 tokenizer.json"] = len(gemma_texts)
    print("sentencepiece_golden: " + ", ".join(f"{k}: {v}" for k, v in counts.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
