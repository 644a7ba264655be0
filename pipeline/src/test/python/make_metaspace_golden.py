"""Writes sentencepiece-metaspace-golden.json.gz, the golden ids and texts of SentencePieceReferenceTest's Metaspace forms,
from Hugging Face's Rust tokenizers (the Python package `tokenizers`, 0.22.2 when last run; not needed by the build).
Hugging Face's JavaScript tokenizers, the reference of the other tokenizer tests, differs from the Rust original on
Metaspace edge cases: a first token of several ▁ (Rust drops them all when decoding) and text after an added token
(Rust prepends ▁ to it with prepend_scheme "always"). usage: python3 make_metaspace_golden.py OUT.json.gz"""
import gzip, json, random, sys
from pathlib import Path
from tokenizers import Tokenizer

here = Path(__file__).resolve().parent.parent / "resources/io/tessera/pipeline/text"
base = json.loads((here / "sentencepiece-bpe-1200.json").read_text(encoding="utf-8"))
# name: (pre-tokenizer's prepend_scheme, split, decoder's prepend_scheme); the decoder reads its own scheme
FORMS = {"first": ("first", False, "first"), "always-split": ("always", True, "always"),
         "first-decoder-never": ("first", False, "never"), "never-decoder-always": ("never", False, "always")}
rng = random.Random(20261205)
RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x900, 0x97F), (0x2000, 0x206F), (0x3000, 0x30FF),
          (0x4E00, 0x4FFF), (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x300, 0x36F), (0x0, 0x20)]
PIECES = [" ", "  ", "\u2581", "<s>", "</s>", " the", "Licensed", "\n", "\u00a0"]
strings = ["", " ", "  two", " leading", "<s>Hello</s> world <s>", "\u2581\u2581x", "a  b   c", "</s> after"]
for _ in range(300):
    s = ""
    for _ in range(rng.randint(1, 16)):
        a, b = rng.choice(RANGES)
        s += chr(rng.randint(a, b)) if rng.random() < 0.6 else rng.choice(PIECES)
    strings.append(s)
out = {"strings": strings, "forms": {}}
for name, (scheme, split, decoder_scheme) in FORMS.items():
    root = json.loads(json.dumps(base))
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}
    root.update(normalizer=None, pre_tokenizer=metaspace, decoder=dict(metaspace, prepend_scheme=decoder_scheme))
    t = Tokenizer.from_str(json.dumps(root))
    form = {"prepend_scheme": scheme, "split": split, "decoder_prepend_scheme": decoder_scheme, "ids": [], "special_ids": [],
            "texts": []}
    for s in strings:
        ids = t.encode(s, add_special_tokens=False).ids
        form["ids"].append(ids)
        form["special_ids"].append(t.encode(s, add_special_tokens=True).ids)
        form["texts"].append(t.decode(ids, skip_special_tokens=False))
    out["forms"][name] = form
with gzip.open(sys.argv[1], "wt", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
