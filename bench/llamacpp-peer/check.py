"""That the GGUF files hf_to_gguf.py writes compute the models Tessera runs: a tiny GPT-2 and a tiny LLaMA with
grouped-query attention (the pipeline module's test fixtures' shapes, vocabulary raised to 512 for the synthetic
SentencePiece one) written with seeded random weights by `tessera create-model`, converted to F32 GGUF, and
llama.cpp's next-token log-probabilities at every position of a prompt (logprobs.mjs) compared with Tessera's
(`tessera generate --logits-out`), which ReferenceLogitsTest checks against float64 PyTorch references in CI.

    python check.py NODE_DIR    # node-llama-cpp's install with logprobs.mjs beside it; models go to NODE_DIR/check
                                # prints one JSON line; exit 1 if a model differs

The bound is relative to the spread of the log-probabilities (random weights give nearly flat ones, GPT-2's
especially). Measured on 16 positions: 2.0e-3 and 2.3e-3 of their standard deviation (llama.cpp keeps its KV cache
in F16); with the LLaMA q/k rows left in HF's RoPE order (the permute step removed), 1.5e-1.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "pipeline", "src", "test", "resources", "models")
TESSERA = os.path.join(ROOT, "scripts", "tessera")
VOCAB = 512
PROMPT = [5, 17, 3, 300, 42, 7, 511, 0, 128, 64, 9, 260, 33, 1, 450, 77]
TOLERANCE = 1e-2  # max |llama.cpp log p - Tessera log p| over the vocabulary, in standard deviations of Tessera's


def read_logits(path):
    """The F32 tensor `logits` [positions, vocab] of a safetensors file, as float64."""
    raw = open(path, "rb").read()
    size = int.from_bytes(raw[:8], "little")
    entry = json.loads(raw[8:8 + size])["logits"]
    start, end = (8 + size + o for o in entry["data_offsets"])
    return np.frombuffer(raw[start:end], dtype=np.float32).reshape(entry["shape"]).astype(np.float64)


def check(fixture, node_dir):
    """Worst difference, in standard deviations, between llama.cpp's and Tessera's log-probabilities."""
    work = os.path.join(os.path.abspath(node_dir), "check")
    with open(os.path.join(FIXTURES, fixture, "config.json")) as f:
        config = json.load(f)
    config["vocab_size"] = VOCAB
    config.pop("rope_scaling", None)  # the bench's models have none; hf_to_gguf.py writes none
    model = os.path.join(work, fixture)
    shutil.rmtree(model, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    config_file = model + ".config.json"
    with open(config_file, "w") as f:
        json.dump(config, f)
    run([TESSERA, "create-model", "--config", config_file, "--seed", "3", "-o", model])
    gguf = model + ".gguf"
    run([sys.executable, os.path.join(HERE, "hf_to_gguf.py"), model, gguf, "f32"])
    logits_file = model + ".logits.safetensors"
    ids = ",".join(map(str, PROMPT))
    run([TESSERA, "generate", "--model", model, "--prompt-ids", ids, "--max-new-tokens", "1", "--greedy",
         "--logits-out", logits_file])
    logits = read_logits(logits_file)[:len(PROMPT)]
    theirs = json.loads(run(["node", "logprobs.mjs", gguf, ids], cwd=node_dir).splitlines()[-1])["logprobs"]
    worst = 0.0
    for position, (row, their_row) in enumerate(zip(logits, theirs)):
        ours = row - row.max() - np.log(np.exp(row - row.max()).sum())
        their = np.array([their_row.get(str(t), -np.inf) for t in range(VOCAB)])
        worst = max(worst, float(np.abs(ours - their).max() / ours.std()))
    return worst


def run(command, cwd=None):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if "Error" in line] or done.stderr.strip().splitlines() or ["?"]
        raise SystemExit(f"check.py: {' '.join(command[:2])} failed: {said[0].strip()}")
    return done.stdout


def main(node_dir):
    worst = {fixture: check(fixture, node_dir) for fixture in ("gpt2-tiny", "llama-tiny")}
    ok = all(w <= TOLERANCE for w in worst.values())
    print(json.dumps({"ok": ok, "positions": len(PROMPT), "tolerance": TOLERANCE,
                      "worst": {k: round(v, 6) for k, v in worst.items()}}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
