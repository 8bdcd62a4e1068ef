#!/usr/bin/env python3
"""Golden data for Brigade's Tokenization tests, computed with Hugging Face `tokenizers` and `gguf`.

    python3 tokenizers_golden.py --out $BRIGADE_TESTDATA --model SMOLLM2.gguf --llama $BRIGADE_TESTDATA/llama.cpp

Writes into OUT/tokenizers/ (deterministic, seeded):
  smollm2/vocab.json        tokenizer arrays of the SmolLM2 GGUF (what BPETokenizer(tokens:merges:...) receives)
  smollm2/tokenizer.json    the HF tokenizer rebuilt from them exactly as shared/reference/smollm2_numpy.py does
  smollm2/golden.json       a few thousand varied strings with their HF ids and decodes, and random id
                            sequences with their HF decodes
  smollm2/flags_*.json      SmolLM2 with added tokens using lstrip/rstrip/single_word/normalized, and strings
  <name>/vocab.json         for llama.cpp's ggml-vocab-<name>.gguf: the same arrays, plus
  <name>/vectors.json       its .inp/.out test vectors (inputs split on the marker line, ids per line)
  llama-bpe|qwen2/tokenizer.json, golden.json
                            HF equivalents of those vocabularies (Llama 3: Split regex + ignore_merges + BOS
                            template; Qwen 2: Split regex, NFC normalizer) with ids on the same varied strings
  pretokenize.json          pre-tokenizer splits (HF pre_tokenize_str) over text made of every Unicode scalar
                            below U+20000 and a sample above, mixed with probe characters
"""
import argparse
import json
import os
import random
import struct
import time

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

# llama.cpp vocab test files whose pre-tokenizer Brigade implements.
LLAMA_VOCABS = ["gpt-2", "llama-bpe", "qwen2", "starcoder", "refact", "command-r", "mpt"]
SEED = 20240611


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_metadata(path, prefix="tokenizer.ggml."):
    """The metadata key/values of a GGUF file whose key starts with `prefix`.

    A small reader of the GGUF key/value section: `gguf.GGUFReader` takes ~10 s on the 256k-token vocabularies
    because it builds numpy views of every string; `check_reader` compares the two on a small file.
    """
    with open(path, "rb") as f:
        data = memoryview(f.read())
    assert bytes(data[:4]) == b"GGUF", path
    _, _, kv_count = struct.unpack_from("<IQQ", data, 4)
    pos = 24

    def string():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + n
        return bytes(data[pos - n:pos]).decode("utf-8")

    def value(kind):
        nonlocal pos
        if kind == 8:
            return string()
        if kind == 9:
            elem, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            if elem == 8:
                return [string() for _ in range(count)]
            fmt = _SCALARS[elem]
            size = struct.calcsize(fmt)
            items = [x[0] for x in struct.iter_unpack(fmt, data[pos:pos + size * count])]
            pos += size * count
            return items
        fmt = _SCALARS[kind]
        (v,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    out = {}
    for _ in range(kv_count):
        key = string()
        (kind,) = struct.unpack_from("<I", data, pos)
        pos += 4
        v = value(kind)
        if key.startswith(prefix):
            out[key] = v
    return out


def check_reader(path):
    """Checks `read_metadata` against gguf.GGUFReader on one file."""
    reader = GGUFReader(path)
    mine = read_metadata(path)
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.ggml."):
            assert field.contents() == mine[key], key
    assert set(mine) == {k for k in reader.fields if k.startswith("tokenizer.ggml.")}


def read_vocab(path):
    """The tokenizer.ggml.* arrays and scalars of a GGUF file."""
    meta = read_metadata(path)

    def field(key, default=None):
        return meta.get("tokenizer.ggml." + key, default)

    return {
        "tokens": field("tokens"),
        "merges": field("merges", []),
        "token_types": field("token_type"),
        "pre": field("pre"),
        "bos": field("bos_token_id"),
        "eos": field("eos_token_id"),
        "unk": field("unknown_token_id"),
        "pad": field("padding_token_id"),
        "add_bos": field("add_bos_token"),
        "add_eos": field("add_eos_token"),
    }


def hf_tokenizer(vocab, kind):
    """The HF tokenizer equivalent to a GGUF vocabulary with the given pre-tokenizer kind."""
    tokens, types = vocab["tokens"], vocab["token_types"]
    merges = [tuple(m.split(" ", 1)) for m in vocab["merges"]]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, ignore_merges=(kind == "llama3"))
    tok = Tokenizer(bpe)
    if kind == "smollm":  # exactly as shared/reference/smollm2_numpy.py
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    elif kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        regex = LLAMA3_RE if kind == "llama3" else QWEN2_RE
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    user = [AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4]
    if user:
        tok.add_tokens(user)
    return tok


# ---------------------------------------------------------------------------------------------------------
# Varied strings
# ---------------------------------------------------------------------------------------------------------

WORDS = {
    "latin": "the quick brown fox jumps over lazy dog hello world tokenizer Paris France capital what is".split(),
    "latin_ext": "café naïve façade über straße Ærøskøbing łódź čeština ŞİŞLİ déjà-vu coöperate Øresund ſtraße".split(),
    "greek": "καλημέρα κόσμε Ελλάδα ΑΘΗΝΑ λόγος ψυχή ΐ ΰ".split(),
    "cyrillic": "привет мир Россия Україна ЁЖИК български щука Съединение".split(),
    "arabic": "مرحبا بالعالم العربية كِتَابٌ السَّلَامُ عَلَيْكُمْ".split(),
    "hebrew": "שלום עולם עִבְרִית".split(),
    "devanagari": "नमस्ते दुनिया हिन्दी क्षत्रिय".split(),
    "thai": "สวัสดีครับ ภาษาไทย กรุงเทพมหานคร".split(),
    "cjk": "你好世界 中文分词 北京 東京都 漢字 天气很好".split(),
    "japanese": "こんにちは カタカナ ひらがな ありがとうございます ｶﾀｶﾅ".split(),
    "hangul": "안녕하세요 한국어 세계 감사합니다".split(),
    "georgian_armenian_ethiopic": "გამარჯობა Բარեւ ሰላም".split(),
    # Words that Llama 3's vocabulary has whole but BPE merges would split: they exercise ignore_merges.
    "ignore_merges": "việc hợp nhiều điều Việt ngoài nhiên jeho ایران ektedir".split(),
    "emoji": ["😀", "😂", "🥲", "👍", "👍🏽", "❤️", "🔥", "🚀", "🦙", "🎉", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵",
              "😶‍🌫️", "✅", "⭐", "🧑🏿‍💻", "©️", "™", "🫠", "🪿"],
    "numbers": ["0", "7", "42", "123", "1234", "12345", "3.14159", "1,000,000", "2024-01-01", "0x1F", "1e-9",
                "٠١٢٣", "۴۵۶", "०१२", "０１２３", "²³", "¹⁰", "½", "¾", "Ⅻ", "ⅻ", "①②", "𝟘𝟙", "፲", "〇"],
    "punct": [".", ",", "!", "?", "...", "…", "—", "–", "«»", "“quoted”", "‘x’", "¿", "¡", "()", "[]", "{}", "<>",
              "::", "->", "=>", "!=", "==", "&&", "||", "#!", "@@", "$$", "%%", "^_^", "~~", "```", "'''", '"""',
              "·", "•", "§", "¶", "†", "※", "、", "。", "！", "？", "：", "；"],
    "contractions": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'lL", "'D",
                     "'ſ", "don't", "I'm", "you're", "they've", "we'll", "he'd", "It'S", "O'Neil", "''s", "'x",
                     "'", "rock'n'roll", "’s"],
}
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n ", "\t\t", " \t", "\n \n", "\u00a0", "\u3000",
          "\u2028", "\u2029", "\u200b", "\ufeff", "\u2009", "\u202f", "\x0b", "\x0c", "\x85", "\u1680", "\x1c",
          "\u180e", "        ", "\r\r\n", "\n\t"]
COMBINING = [chr(c) for c in range(0x300, 0x370)] + ["\u0488", "\u20dd", "\u0903", "\u093f", "\u0e31", "\u302a"]
CODE = [
    "def foo(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if err != nil {\n\treturn nil, err\n}",
    "<div class=\"main\">Hello</div>",
    "SELECT * FROM users WHERE id = 42;",
    "let x: [Int32] = [1, 2, 3]  // comment",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 1); }",
    "    indented = True\n\n\n        more_indent()\r\n",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
    "$ git commit -m 'fix: bug #123'",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "λx. x + 1 ≠ ∀y ∈ ℝ: y² ≥ 0",
]


def random_scalar(rng):
    """A random Unicode scalar, anywhere (controls, unassigned, private use, astral planes)."""
    r = rng.random()
    if r < 0.3:
        cp = rng.randrange(0, 0x80)
    elif r < 0.5:
        cp = rng.randrange(0x80, 0x800)
    elif r < 0.8:
        cp = rng.randrange(0x800, 0x10000)
    else:
        cp = rng.randrange(0x10000, 0x110000)
    if 0xD800 <= cp < 0xE000:
        cp = 0xFFFD
    return chr(cp)


def fragment(rng, specials):
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice(CODE)
    if kind == 1:
        return rng.choice(SPACES)
    if kind == 2:
        return rng.choice(list(WORDS["latin"])) + "".join(rng.choice(COMBINING) for _ in range(rng.randrange(1, 4)))
    if kind == 3 and specials:
        return rng.choice(specials)
    if kind == 4 and specials:  # near misses of special tokens
        s = rng.choice(specials)
        return rng.choice([s[:-1], s[1:], s + s[-1], s.upper(), s[0] + " " + s[1:]])
    if kind == 5:
        return "".join(random_scalar(rng) for _ in range(rng.randrange(1, 6)))
    if kind == 6:
        return "".join(chr(rng.randrange(0x80, 0x100)) for _ in range(rng.randrange(1, 5)))
    if kind == 7:
        return "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 12)))
    key = rng.choice(list(WORDS))
    return rng.choice(WORDS[key])


def varied_strings(specials):
    rng = random.Random(SEED)
    out = ["", " ", "\n", "a", "Hello world", " Hello world", "Hello World!", "Hello, world!",
           "What is the capital of France?", "\t\t\n\n  ", "    ", "1234567890", "12 345 6789 0",
           "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
           " việc", " hợp nhiều điều", "ektedir", " Việt Nam", "Tôi làm việc ở ngoài"]
    for key, words in WORDS.items():
        out.append(" ".join(words))
        out.append("".join(words))
    out += CODE + SPACES + COMBINING[:8]
    out += [s for s in specials[:20]] + [f"text{s}text" for s in specials[:10]] + [" ".join(specials[:8])]
    out += ["a" + s + "b" for s in SPACES] + ["x" + s for s in SPACES] + [s + "x" for s in SPACES]
    for _ in range(2900):
        pieces = [fragment(rng, specials) for _ in range(rng.randrange(1, 12))]
        joiner = rng.choice(["", " ", "", "\n", " "])
        out.append(joiner.join(pieces))
    for length in (2000, 8000, 30000):  # long strings
        pieces = []
        while sum(len(p) for p in pieces) < length:
            pieces.append(fragment(rng, specials))
        out.append(" ".join(pieces))
    out.append("a" * 5000)  # one very long word
    out.append("🦙" * 500)
    out.append(" " * 3000 + "x")
    return out


def golden(tok, texts, bos_template=False):
    rows = []
    for text in texts:
        enc = tok.encode(text, add_special_tokens=False)
        row = {"text": text, "ids": enc.ids,
               "decoded": tok.decode(enc.ids, skip_special_tokens=False),
               "decoded_skip": tok.decode(enc.ids, skip_special_tokens=True)}
        if bos_template:
            row["ids_with_special"] = tok.encode(text).ids
        rows.append(row)
    return rows


def random_decodes(tok, vocab_size, specials_ids, count=600):
    rng = random.Random(SEED + 1)
    # Bias towards the one-byte tokens (ids of the 256 byte symbols) so invalid UTF-8 is frequent.
    byte_ids = [tok.token_to_id(c) for c in (bytes_to_unicode_chars())]
    byte_ids = [i for i in byte_ids if i is not None]
    rows = []
    for _ in range(count):
        ids = []
        for _ in range(rng.randrange(1, 16)):
            r = rng.random()
            if r < 0.5:
                ids.append(rng.choice(byte_ids))
            elif r < 0.6 and specials_ids:
                ids.append(rng.choice(specials_ids))
            else:
                ids.append(rng.randrange(vocab_size))
        rows.append({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                     "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    return rows


def bytes_to_unicode_chars():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def added_token_flags(smol):
    """SmolLM2 plus added tokens with each flag, and strings that exercise them."""
    tok = hf_tokenizer(smol, "smollm")
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    tok.add_tokens([AddedToken("[R]", rstrip=True, normalized=False),
                    AddedToken("word", single_word=True, normalized=False),
                    AddedToken("<ab>", normalized=True),  # matched in a second pass, after the raw tokens
                    AddedToken("b>x", normalized=False),
                    AddedToken("<both>", lstrip=True, rstrip=True, normalized=False)])
    pieces = ["<mask>", "[R]", "word", "<ab>", "b>x", "<both>", "<ab>x", "sword", "word1", "é", "x", ".", "1",
              " ", "  ", "\n", "\t", "\u3000", "<|im_start|>", "wordword", "<a", "b>"]
    rng = random.Random(SEED + 2)
    texts = ["a <mask> b", "  <mask>", "x<mask>", "[R]   y", "[R]\n\nz", "word", "a word b", "swordfish", "word1",
             "1word", "wordword", " word.", "<ab>x", "<ab>", "<ab><ab>", "   <mask>   [R]   ", "é word é",
             "<mask><mask>", "[R][R]", "[R] <mask>", "a  <both>  b", "<both><both>", " <both> <mask> "]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 10))) for _ in range(400)]
    return tok, golden(tok, texts)


# ---------------------------------------------------------------------------------------------------------
# Exhaustive pre-tokenization
# ---------------------------------------------------------------------------------------------------------

PROBES = [" ", "a", "1", "!", "\n", "'", "\t", "  ", "x'", "\r\n", "Z9", " \n", "'s", "é", "٣"]


def pretokenize_texts():
    cps = [cp for cp in range(0x20000) if not (0xD800 <= cp < 0xE000)]
    cps += list(range(0xE0000, 0xE0200)) + list(range(0x20000, 0x110000, 61))
    texts, current = [], []
    for i, cp in enumerate(cps):
        current.append(chr(cp))
        if i % 3 != 2:
            current.append(PROBES[(i * 7) % len(PROBES)])
        if len(current) >= 3000:
            texts.append("".join(current))
            current = []
    texts.append("".join(current))
    return texts


def pretokenize(texts):
    splitters = {
        "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "smollm": pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]),
        "llama3": pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
        "qwen2": pre_tokenizers.Split(Regex(QWEN2_RE), behavior="isolated", invert=False),
    }
    result = {"texts": texts}
    for name, splitter in splitters.items():
        # Offsets are in Unicode scalars of the input; store each piece's length, space-separated per text.
        result[name] = [" ".join(str(b - a) for _, (a, b) in splitter.pre_tokenize_str(t)) for t in texts]
    return result


# ---------------------------------------------------------------------------------------------------------

def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))


def read_vectors(llama_dir, name):
    with open(os.path.join(llama_dir, f"ggml-vocab-{name}.gguf.inp"), encoding="utf-8", newline="") as f:
        inputs = f.read().split("\n__ggml_vocab_test__\n")
    with open(os.path.join(llama_dir, f"ggml-vocab-{name}.gguf.out"), encoding="utf-8", newline="") as f:
        outputs = f.read().split("\n")
    assert inputs[-1] == "" and outputs[-1] == "", name
    inputs, outputs = inputs[:-1], outputs[:-1]
    assert len(inputs) == len(outputs), (name, len(inputs), len(outputs))
    return [{"text": t, "ids": [int(x) for x in o.split()]} for t, o in zip(inputs, outputs)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True, help="the SmolLM2 GGUF")
    ap.add_argument("--llama", required=True, help="directory of llama.cpp's ggml-vocab-*.gguf test files")
    args = ap.parse_args()
    out = os.path.join(args.out, "tokenizers")
    started = time.time()

    check_reader(os.path.join(args.llama, "ggml-vocab-gpt-2.gguf"))
    smol = read_vocab(args.model)
    tok = hf_tokenizer(smol, "smollm")
    os.makedirs(os.path.join(out, "smollm2"), exist_ok=True)
    tok.save(os.path.join(out, "smollm2", "tokenizer.json"))
    write_json(os.path.join(out, "smollm2", "vocab.json"), smol)
    smol_specials = [t for t, ty in zip(smol["tokens"], smol["token_types"]) if ty == 3]
    texts = varied_strings(smol_specials)
    special_ids = [i for i, ty in enumerate(smol["token_types"]) if ty == 3]
    write_json(os.path.join(out, "smollm2", "golden.json"),
               {"strings": golden(tok, texts), "decodes": random_decodes(tok, len(smol["tokens"]), special_ids)})
    counts = {"smollm2": len(texts)}
    flags_tok, flags_rows = added_token_flags(smol)
    flags_tok.save(os.path.join(out, "smollm2", "flags_tokenizer.json"))
    write_json(os.path.join(out, "smollm2", "flags_golden.json"), {"strings": flags_rows})
    counts["added-token flags"] = len(flags_rows)

    for name in LLAMA_VOCABS:
        path = os.path.join(args.llama, f"ggml-vocab-{name}.gguf")
        vocab = read_vocab(path)
        write_json(os.path.join(out, name, "vocab.json"), vocab)
        write_json(os.path.join(out, name, "vectors.json"), read_vectors(args.llama, name))
        if name in ("llama-bpe", "qwen2"):
            kind = "llama3" if name == "llama-bpe" else "qwen2"
            hf = hf_tokenizer(vocab, kind)
            specials = [t for t, ty in zip(vocab["tokens"], vocab["token_types"]) if ty in (3, 4)]
            texts = varied_strings(specials[:40] + specials[-5:])
            rows = golden(hf, texts)
            if kind == "llama3":  # Llama 3's real tokenizer.json adds BOS with a template
                hf.post_processor = processors.TemplateProcessing(
                    single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", vocab["bos"])])
            else:  # Qwen 2's real tokenizer.json normalizes to NFC
                hf.normalizer = normalizers.NFC()
            for row, text in zip(rows, texts):
                row["ids_json"] = hf.encode(text).ids
            hf.save(os.path.join(out, name, "tokenizer.json"))
            write_json(os.path.join(out, name, "golden.json"), {"strings": rows})
            counts[name] = len(texts)

    write_json(os.path.join(out, "pretokenize.json"), pretokenize(pretokenize_texts()))
    print(f"tokenizers_golden: wrote {out} ({counts}) in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
