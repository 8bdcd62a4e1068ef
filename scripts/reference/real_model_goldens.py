#!/usr/bin/env python3
"""Golden fixtures of the real models for Brigade's tests: greedy tokens and top-5 log-probs of the numpy reference.

    python3 scripts/reference/real_model_goldens.py [--models DIR] [--llama-bin DIR] [--only qwen2.5-coder|gemma3]

For each model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, Gemma 3 270M Q4_K_M, fetched by `scripts/fetch-model`) and each
prompt slot of golden_prompts.py: renders chat prompts with the model's chat template through jinja2 configured as
Hugging Face does (scripts/testdata/chat_templates.py), tokenizes with llama.cpp's `llama-tokenize` (BOS added when
the vocabulary asks for it, special tokens parsed) and, for Qwen, checks the ids against Hugging Face `tokenizers`
built from the GGUF vocabulary and merges (scripts/testdata/tokenizers_golden.py); then runs the numpy reference
(llama_reference.py: f32 math on weights dequantized once, full recompute per step) greedily for 12 tokens and writes
Tests/ModelTests/Fixtures/<model>-golden/<slot>.json:

    {"model": {"file", "sha256"}, "prompt", "prompt_ids", "generated_ids", "min_gap",
     "steps": [{"token_id", "gap", "top": [[id, log-prob] x 5]}]}

`gap` is the top-1 minus top-2 log-prob (nats) at that step. Of a slot's candidates the first whose gaps all exceed
--min-gap is kept (Brigade's f32 path must reproduce the tokens exactly, so near-ties are avoided); if none does,
the one with the largest smallest gap is written and reported.
"""
import argparse, hashlib, json, os, re, subprocess, sys, tempfile, textwrap, time
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts", "testdata"))
import llama_reference as ref  # noqa: E402
from golden_prompts import PROMPTS  # noqa: E402
from layers import log_softmax  # noqa: E402

# The Gemma 3 GGUF carries no tokenizer.chat_template. This one writes Gemma's turn format (the format of
# llama.cpp's built-in "gemma" template: a system message is folded into the first user turn, "assistant" is
# "model", contents are trimmed). No BOS in the text: llama-tokenize adds it, as for any prompt of this model.
GEMMA_TURNS = r"""{%- set ns = namespace(system='') -%}
{%- for message in messages -%}
  {%- if message['role'] == 'system' -%}
    {%- set ns.system = ns.system + message['content'] | trim -%}
  {%- else -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<start_of_turn>' + role + '\n' -}}
    {%- if ns.system and role != 'model' -%}{{- ns.system + '\n\n' -}}{%- set ns.system = '' -%}{%- endif -%}
    {{- message['content'] | trim + '<end_of_turn>\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}"""

MODELS = {
    "qwen2.5-coder": dict(file="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf", fixtures="qwen2.5-coder-golden",
                          template=None, hf_kind="qwen2", stop=("<|im_end|>", "<|endoftext|>")),
    "gemma3": dict(file="gemma-3-270m.Q4_K_M.gguf", fixtures="gemma3-golden", template=GEMMA_TURNS, hf_kind=None,
                   stop=("<eos>", "<end_of_turn>")),
}
FIXTURES = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def vocab_of(path):
    """tokenizer.ggml.* of the GGUF (tokens, merges, token types, special ids), plus its chat template."""
    import tokenizers_golden as tg
    vocab = tg.read_vocab(path)
    vocab["chat_template"] = tg.read_metadata(path, "tokenizer.chat_template").get("tokenizer.chat_template")
    return vocab


def render_chat(template, messages, vocab):
    """The chat prompt text, rendered by jinja2 as Hugging Face's apply_chat_template does."""
    import chat_templates
    context = {"messages": messages, "tools": None, "documents": None, "add_generation_prompt": True,
               "eos_token": vocab["tokens"][vocab["eos"]]}
    if vocab["add_bos"]:
        context["bos_token"] = vocab["tokens"][vocab["bos"]]
    return chat_templates.make_environment().from_string(template).render(**context)


def llama_tokenize(llama_bin, model_path, text):
    """Ids from llama.cpp's llama-tokenize (reads the file verbatim, no escapes; BOS per the vocabulary; special
    tokens parsed)."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write(text)
    try:
        out = subprocess.run([os.path.join(llama_bin, "llama-tokenize"), "-m", model_path, "-f", f.name,
                              "--no-escape", "--ids", "--log-disable"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out.strip().splitlines()[-1])


def hf_tokenizer(vocab, kind):
    """Hugging Face `tokenizers` rebuilt from the GGUF vocabulary, as tokenizers_golden.py builds it (plus Qwen 2's
    NFC normalizer, as its real tokenizer.json has)."""
    import tokenizers_golden as tg
    from tokenizers import normalizers
    tok = tg.hf_tokenizer(vocab, kind)
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    return tok


def greedy(m, ids, n, stop, min_gap=None):
    """n greedy steps (stopping after a token of the set `stop`), full recompute each step. Stops early,
    returning what it has, once a step's top-2 gap is at most min_gap (when given)."""
    ids, steps = list(ids), []
    for _ in range(n):
        lp = log_softmax(ref.forward(m, ids, last=1)[0])
        top = np.argsort(-lp, kind="stable")[:5]
        step = {"token_id": int(top[0]), "gap": round(float(lp[top[0]] - lp[top[1]]), 5),
                "top": [[int(i), round(float(lp[i]), 5)] for i in top]}
        steps.append(step)
        ids.append(step["token_id"])
        if step["token_id"] in stop or (min_gap is not None and step["gap"] <= min_gap):
            break
    return steps


def prompt_text(spec, kind, model, vocab):
    if kind == "raw":
        return spec
    template = model["template"] or vocab["chat_template"]
    if not template:
        raise ValueError(f"{model['file']} has no chat template")
    return render_chat(template, spec, vocab)


def tokenize(args, model, path, vocab, hf, text):
    """llama.cpp's ids for text; for Qwen, asserts Hugging Face `tokenizers` gives the same (plus no BOS)."""
    ids = llama_tokenize(args.llama_bin, path, text)
    if hf is not None:
        hf_ids = ([vocab["bos"]] if vocab["add_bos"] else []) + hf.encode(text).ids
        if hf_ids != ids:
            raise AssertionError(f"{model['file']}: llama.cpp and tokenizers disagree on {text[:60]!r}:\n"
                                 f"{ids}\n{hf_ids}")
    return ids


def choose(args, m, model, path, vocab, hf, slot, kind, candidates):
    """The first candidate of the slot with every gap > min_gap, or the one with the largest smallest gap."""
    stop = {vocab["tokens"].index(t) for t in model["stop"]}
    tried = []
    for spec in candidates:
        text = prompt_text(spec, kind, model, vocab)
        ids = tokenize(args, model, path, vocab, hf, text)
        t0 = time.time()
        steps = greedy(m, ids, args.steps, stop, args.min_gap)
        gap = min(s["gap"] for s in steps)
        print(f"  {slot}: {len(ids)} prompt tokens, {len(steps)} steps, min gap {gap:.4f} "
              f"({time.time() - t0:.1f} s)", file=sys.stderr)
        if gap > args.min_gap and (len(steps) == args.steps or steps[-1]["token_id"] in stop):
            return text, ids, steps
        tried.append((len(steps), gap, text, ids))
    _, _, text, ids = max(tried, key=lambda t: (t[0], t[1]))
    steps = greedy(m, ids, args.steps, stop)
    print(f"  {slot}: WARNING no candidate without a near-tie; kept one with min gap "
          f"{min(s['gap'] for s in steps):.4f}", file=sys.stderr)
    return text, ids, steps


def compact_json(obj):
    """Indented JSON with every list of numbers on one line (ids, [id, log-prob] pairs)."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    return re.sub(r"\[\s+([-\d.,\se]+?)\s+\]", lambda m: "[" + " ".join(m[1].split()) + "]", text) + "\n"


def write_fixture(directory, slot, model_file, digest, text, ids, steps):
    fixture = {"model": {"file": model_file, "sha256": digest}, "prompt": text, "prompt_ids": ids,
               "generated_ids": [s["token_id"] for s in steps], "min_gap": min(s["gap"] for s in steps),
               "steps": steps}
    with open(os.path.join(directory, slot + ".json"), "w", encoding="utf-8") as f:
        f.write(compact_json(fixture))
    return fixture


def run_model(args, key):
    model = MODELS[key]
    path = os.path.join(args.models, model["file"])
    digest = sha256(path)
    t0 = time.time()
    vocab = vocab_of(path)
    m = ref.load(path)
    print(f"{key}: {model['file']} sha256 {digest[:12]}… loaded in {time.time() - t0:.1f} s", file=sys.stderr)
    hf = hf_tokenizer(vocab, model["hf_kind"]) if model["hf_kind"] else None
    directory = os.path.join(args.out, model["fixtures"])
    os.makedirs(directory, exist_ok=True)
    summary = []
    for slot, kind, candidates in PROMPTS[key]:
        text, ids, steps = choose(args, m, model, path, vocab, hf, slot, kind, candidates)
        fx = write_fixture(directory, slot, model["file"], digest, text, ids, steps)
        summary.append((slot, kind, len(ids), len(steps), fx["min_gap"]))
    write_readme(directory, key, model, digest, summary)
    return summary


def write_readme(directory, key, model, digest, summary):
    """README.md of a fixture directory: where the files come from and what each holds."""
    rows = "\n".join(f"| {slot}.json | {kind} | {n_prompt} | {n_steps} | {gap:.3f} |"
                     for slot, kind, n_prompt, n_steps, gap in summary)
    template = ("the GGUF's own `tokenizer.chat_template`" if model["template"] is None else
                "Gemma's turn format (`GEMMA_TURNS` in the script; the GGUF has no chat template)")
    hf_check = ("; the ids are checked against Hugging Face `tokenizers` built from the GGUF vocabulary and merges"
                if model["hf_kind"] else "")
    paragraphs = [
        f"Golden outputs of the numpy reference (`scripts/reference/llama_reference.py`: f32 math on weights "
        f"dequantized once to f32, full recompute per step, greedy) on {model['file']} (sha256 {digest[:16]}…, "
        f"fetched by `scripts/fetch-model`, never committed).",
        f"Chat prompts are rendered with {template} through jinja2 set up as Hugging Face does. Prompt ids come "
        f"from llama.cpp's `llama-tokenize` (BOS as the vocabulary asks, special tokens parsed){hf_check}. "
        f"`prompt_ids` hold the BOS a vocabulary adds, `prompt` is the text without it. `gap` is the top-1 minus "
        f"top-2 log-prob at a step (nats), `min_gap` its minimum over the steps. Regenerate with (a few minutes "
        f"per model):"]
    text = "\n\n".join(textwrap.fill(p, 115) for p in paragraphs) + f"""

    python3 scripts/reference/real_model_goldens.py --only {key}

| file | kind | prompt tokens | generated | min gap |
|---|---|---:|---:|---:|
{rows}
"""
    with open(os.path.join(directory, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/brigade/models"))
    ap.add_argument("--llama-bin", default="/work/llama.cpp/build/bin", help="directory holding llama-tokenize")
    ap.add_argument("--out", default=FIXTURES)
    ap.add_argument("--only", choices=sorted(MODELS))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--min-gap", type=float, default=0.05)
    args = ap.parse_args()
    for key in [args.only] if args.only else MODELS:
        for slot, kind, n_prompt, n_steps, gap in run_model(args, key):
            print(f"{key} {slot} ({kind}): {n_prompt} prompt tokens, {n_steps} generated, min gap {gap:.4f}")


if __name__ == "__main__":
    main()
