#!/usr/bin/env python3
"""Writes gemma3-llama.cpp.json: the ids llama.cpp's `llama-tokenize` gives for varied strings on Gemma 3 270M.

    python3 make_gemma3_fixture.py LLAMA_TOKENIZE GEMMA3.gguf > gemma3-llama.cpp.json

llama.cpp is not built at test time, so the output is committed (it is small); the test builds the tokenizer from
the same GGUF's arrays (scripts/testdata/sentencepiece_golden.py dumps them) and compares.
"""
import json
import subprocess
import sys

TEXTS = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n\n\n", "\t\n", " \n \n", "a\n\nb", "x" + "\n" * 40 + "y",
    "Hello world", " Hello world", "Hello World!", "Hello, world!", "  Hello  world  ", "What is the capital of France?",
    "The quick brown fox jumps over the lazy dog.", "I'm sure it's fine, isn't it? We'll see.",
    "Grüß Gott, Äpfel und Öl", "façade naïve coöperate", "Ελληνικά: καλημέρα κόσμε", "Привет, мир! Как дела?",
    "日本語のテキストです。", "中文测试：你好，世界！", "한국어 문장입니다", "ภาษาไทย สวัสดี", "עברית שלום", "العربية مرحبا",
    "हिन्दी नमस्ते", "Tiếng Việt: Tôi làm việc ở ngoài", "ί ί ά ά", "e\u0301 é", "\ufeffBOM", "zero\u200bwidth",
    "🦙🦙🦙", "👋🏽 👨‍👩‍👧‍👦 🇫🇷", "emoji 😀 in text 🎉!", "\U0001F9EA\U0001FAE0\U0001FAE8", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕥𝕖𝕩𝕥",
    "ied 4 ½ months", "1234567890", "3.14159 2,718 1e-9 0xFF", "     indented", "trailing   ", "a" * 300,
    "def add(a, b):\n    return a + b\n", "for (int i = 0; i < n; ++i) {\n\tsum += x[i];\n}",
    "<div class=\"x\">Hi</div>", "SELECT * FROM t WHERE id = 42;", "$ ls -la | grep \"\\.swift$\"",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "C:\\\\Users\\\\name", "http://example.com/path?q=1&r=2",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "<bos><start_of_turn>user\nHi!<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n",
    "text<end_of_turn>text", "<start_of_turn><end_of_turn>", "<start_of_image>", "[multimodal] x", "<unused42> y",
    "<pad><eos><unk><mask>", "< start_of_turn >", "<start_of_turn", "\t\t\t\tdeep\t\ttabs",
]


def tokenize(binary, model, text, parse_special):
    args = [binary, "-m", model, "--stdin", "--ids", "--log-disable", "--no-escape"]
    if not parse_special:
        args.append("--no-parse-special")
    out = subprocess.run(args, input=text.encode("utf-8"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=True).stdout.decode()
    return json.loads(out.strip().splitlines()[-1])


def main():
    binary, model = sys.argv[1], sys.argv[2]
    rows = [{"text": t, "parse_special": p, "ids": tokenize(binary, model, t, p)} for t in TEXTS for p in (True, False)]
    source = "llama.cpp llama-tokenize (llama-cpp-python 0.3.36 vendored llama.cpp), gemma-3-270m.Q4_K_M.gguf"
    lines = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    sys.stdout.write('{"source": %s,\n"rows": [\n%s\n]}\n' % (json.dumps(source), lines))


if __name__ == "__main__":
    main()
