#!/usr/bin/python3
"""Joins the JMH results and the PyTorch peer results of one scripts/bench run into one table.

    bench/report.py --jmh jmh.json --peer peer.json [--jlama jlama.json] [--llamacpp llamacpp.json] [--meta run.json]
                    [--out table.md] [--doc FILE]

Columns: operation, size, Tessera figure, PyTorch figure, speed ratio (Tessera / PyTorch: above 1 means
Tessera is faster), Jlama figure and Tessera / Jlama (whole-model decode rows only; bench/jlama-peer writes them),
llama.cpp figure and Tessera / llama.cpp (the same rows; bench/llamacpp-peer writes them), what bounds the row, and
the fraction of that bound Tessera reaches. The bound of a row
is its roofline time, max(bytes / B, FLOPs / P), where B is the best STREAM copy bandwidth measured in this
run (Tessera's or PyTorch's) or, for rows that read far more than they write out of more memory than the caches
hold (decoding: every weight once), the best read bandwidth R (a sum over 1 GiB), and P the best OpenBLAS sgemm
rate measured in this run (MatmulBenchmark.cblas);
"of bound" = roofline time / measured time. Bytes count what the operation must read and write at least
once (no write-allocate traffic, no caches), FLOPs count multiply and add separately.

Rows are declared in ROWS below. A row whose JMH class is absent from the results prints
"not built yet (issue N)"; a JMH benchmark that no row claims is still printed, at the end, without a peer.
With --doc, the text between the markers <!-- bench:begin --> and <!-- bench:end --> of that file is
replaced by the table, the ceilings and the machine description, so the figures there always come from a
run and the prose around them is kept. Standard library only.
"""

import argparse
import datetime
import json
import math
import os
import re
import statistics
import sys

from decode_keys import (BATCHED_CONTEXT, DECODE_BATCHES, DECODE_CONTEXTS, JLAMA_Q4, JLAMA_WEIGHTS, LLAMACPP_WEIGHTS,
                         PADDED_PREFILL_LENGTHS, PREFILL_TOKENS, batch_suffix, context_suffix, engine_key, padded_prefill_key,
                         prefill_key)

MB = 1 << 20
F32 = 4

# ---- work models (bytes moved at least once, FLOPs) ---------------------------------------------------------
D, LAYERS, HEADS, CONTEXT = 768, 12, 12, 128
BLOCK_PARAMS = 12 * D * D + 13 * D  # c_attn, c_proj, c_fc, mlp c_proj weights + biases, two LayerNorms
STACK_PARAMS = LAYERS * BLOCK_PARAMS + 2 * D  # + final LayerNorm
PROJ_FLOPS_PER_TOKEN = 2 * LAYERS * 12 * D * D  # the four projections
# decode: the new token attends to CONTEXT + 1 positions (q k^T and att v, all heads)
DECODE_FLOPS = PROJ_FLOPS_PER_TOKEN + LAYERS * 2 * 2 * (CONTEXT + 1) * D
DECODE_BYTES = STACK_PARAMS * F32 + LAYERS * 2 * (CONTEXT + 1) * D * F32  # weights + K and V read once
FWD_FLOPS = CONTEXT * PROJ_FLOPS_PER_TOKEN + LAYERS * 2 * 2 * CONTEXT * CONTEXT * D  # full (unmasked) scores
FWD_BYTES = STACK_PARAMS * F32
# whole models decoding one token that attends to ctx positions (ctx - 1 cached): GPT-2-small shape (the blocks as
# above, one wpe row, the tied head reads all of wte) and TinyLlama-1.1B's shape (22 layers, d 2048, FFN 5632, 32 heads
# of 64, 4 KV heads, vocab 32000, untied head, no biases). Weights read once per token, plus the KV cache.
VOCAB = 50257
PROJ_WEIGHTS = LAYERS * 12 * D * D  # the projections' weights, int8 codes when quantized (scales are per row)
PROJ_SCALES = LAYERS * 9 * D  # one F32 scale per output channel: c_attn 3d, c_proj d, c_fc 4d, mlp c_proj d
BF16 = 2
BF16_ROUNDED = "bf16-rounded"  # BF16 weights whose products round the activations to BF16 (Bf16Products.ROUNDED_INPUTS)
TL_D, TL_FFN, TL_LAYERS, TL_KV, TL_VOCAB = 2048, 5632, 22, 4 * 64, 32000
TL_LAYER_WEIGHTS = 2 * TL_D * TL_D + 2 * TL_D * TL_KV + 3 * TL_D * TL_FFN  # q, o; k, v; gate, up, down
TL_MATRICES = TL_LAYERS * TL_LAYER_WEIGHTS + TL_VOCAB * TL_D  # read per token: the blocks and the head (one embedding row)
TL_CHANNELS = TL_LAYERS * (2 * TL_D + 2 * TL_KV + 2 * TL_FFN + TL_D) + TL_VOCAB  # int8 scales, one per output channel


def model_decode_work(model, weights, ctx, batch=1, kv=F32):
    """(bytes, FLOPs) of one decode step of batch prompts (weights read once, a KV cache of kv bytes an element per
    prompt); FLOPs only for f32, where the f32 GEMM rate is the ceiling that applies."""
    weights = "bf16" if weights == BF16_ROUNDED else weights  # the same weights; only the activations differ
    if model == "gpt2-small":
        f32 = STACK_PARAMS * F32 + batch * LAYERS * 2 * ctx * D * kv + (VOCAB + batch) * D * F32
        flops = batch * (PROJ_FLOPS_PER_TOKEN + LAYERS * 2 * 2 * ctx * D + 2 * VOCAB * D)
        int8 = f32 - PROJ_WEIGHTS * 3 + PROJ_SCALES * F32
        bytes_ = {"f32": f32, "bf16": f32 - (PROJ_WEIGHTS + (VOCAB + batch) * D) * (F32 - BF16), "int8": int8,
                  "int8-all": int8 - VOCAB * D * 3 + VOCAB * F32}[weights]
    else:
        # norms, a row per prompt, the KV caches
        other = (TL_LAYERS * 2 * TL_D + (1 + batch) * TL_D) * F32 + batch * TL_LAYERS * 2 * ctx * TL_KV * kv
        flops = batch * (2 * TL_MATRICES + TL_LAYERS * 2 * 2 * ctx * TL_D)
        # int8-all: one embedding row more or less, the same bytes as int8
        bytes_ = {"f32": TL_MATRICES * F32, "bf16": TL_MATRICES * BF16, "int8": TL_MATRICES + TL_CHANNELS * F32,
                  "int8-all": TL_MATRICES + TL_CHANNELS * F32}[weights] + other
    return bytes_, flops if weights == "f32" else 0


def model_prefill_work(model, weights, tokens):
    """(bytes, FLOPs) of a prompt of tokens ids into an empty cache, the head over the last position only: the
    projections per token, causal attention (query i attends to i + 1 keys) and one head product. Int8 and BF16
    multiply-adds are counted against the f32 GEMM rate too: a loose bound for them."""
    attended = tokens * (tokens + 1) // 2
    bytes_, _ = model_decode_work(model, weights, tokens)
    if model == "gpt2-small":
        flops = tokens * PROJ_FLOPS_PER_TOKEN + LAYERS * 2 * 2 * attended * D + 2 * VOCAB * D
    else:
        flops = tokens * 2 * TL_LAYERS * TL_LAYER_WEIGHTS + TL_LAYERS * 2 * 2 * attended * TL_D + 2 * TL_VOCAB * TL_D
    return bytes_, flops


# diagonal Fisher of an MLP: forward, backward to every layer output (no input gradient of layer 1), and the
# per-example squares (G^2)^T (X^2): 2 * batch * (2 * sum(in*out) + sum over layers >= 2 of in*out)
MLP = [(784, 1024), (1024, 1024), (1024, 10)]
FISHER_EXAMPLES = 1024
FISHER_FLOPS = 2 * FISHER_EXAMPLES * (2 * sum(i * o for i, o in MLP) + sum(i * o for i, o in MLP[1:]))
BIG = 100_000_000


def linear_work(batch, n=4096):
    return {"bytes": (n * n + n + 2 * batch * n) * F32, "flops": 2 * batch * n * n}


# ---- the rows -------------------------------------------------------------------------------------------------
# tessera: (JMH class, method, params), or a "n/a: reason" string for a row only a peer has ; peer: candidate keys in
# peer.json (the fastest is shown) or a "n/a: reason" string ; jlama, llamacpp: the same for jlama.json and
# llamacpp.json, None where that engine has no counterpart ; unit: how the figure is shown ; per_op: units per op for
# ops/s-style units.
# ceiling: "copy" (B) or "read" (R) bandwidth for the bytes term.
def row(group, op, size, tessera, peer, unit, bytes_=0, flops=0, metric="time", per_op=1, issue=None, note=None,
        ceiling="copy", jlama=None, llamacpp=None):
    return {"group": group, "op": op, "size": size, "tessera": tessera, "peer": peer, "unit": unit,
            "bytes": bytes_, "flops": flops, "metric": metric, "per_op": per_op, "issue": issue, "note": note,
            "ceiling": ceiling, "jlama": jlama, "llamacpp": llamacpp}


N64 = 64 << 20
N16 = 16 << 20
ROWS = [
    row("call", "FFM downcall, empty C function", "1 call", ("DowncallBenchmark", "noop", {}), ["call_overhead"], "ns/call"),
    row("call", "FFM downcall, critical", "1 call", ("DowncallBenchmark", "noopCritical", {}), ["call_overhead"], "ns/call"),
    row("memory", "STREAM copy (engine InPlace.copy)", "64M f32", ("EngineBenchmark", "copy", {}), ["copy_64M"], "GB/s",
        bytes_=2 * N64 * F32, metric="bytes"),
    row("memory", "STREAM triad a = b + s*c", "64M f32", ("TriadBenchmark", "triad", {}), ["triad_64M"], "GB/s",
        bytes_=3 * N64 * F32, metric="bytes"),
    row("memory", "copy (ts_copy_f32)", "16M f32", ("Blas1Benchmark", "copy", {}), ["copy_16M"], "GB/s",
        bytes_=2 * N16 * F32, metric="bytes"),
    row("memory", "copy, one thread (JDK MemorySegment.copy)", "16M f32", ("Blas1Benchmark", "copyJdk", {}),
        "n/a: JDK-only single-thread reference", "GB/s", bytes_=2 * N16 * F32, metric="bytes"),
    row("memory", "axpy y += a*x", "16M f32", ("Blas1Benchmark", "axpy", {}), ["axpy_16M"], "GB/s",
        bytes_=3 * N16 * F32, metric="bytes"),
    row("memory", "sum", "16M f32", ("Blas1Benchmark", "sum", {}), ["sum_16M"], "GB/s", bytes_=N16 * F32, metric="bytes"),
    row("memory", "read bandwidth: sum beyond the caches (R)", "1 GiB", ("Blas1Benchmark", "sumBeyondCaches", {}), ["sum_1G"],
        "GB/s", bytes_=1 << 30, metric="bytes", ceiling="read"),
    row("memory", "add a + b (allocates result)", "64M f32", ("EngineBenchmark", "add", {}), ["add_64M"], "GB/s",
        bytes_=3 * N64 * F32, metric="bytes"),
    row("memory", "AdamW step (fused)", "64M f32", ("EngineBenchmark", "adamw", {}), ["adamw_64M"], "GB/s",
        bytes_=7 * N64 * F32, metric="bytes"),
    # index form: p and g are touched a cache line per masked entry (p read and written), m, v compact, int64 index
    row("memory", "masked AdamW, index form (compact m, v)", "0.5% of 100M",
        ("MaskedAdamWBenchmark", "indexed", {"density": "0.005"}), ["masked_adamw_indexed"], "ms",
        bytes_=500_000 * (3 * 64 + 4 * F32 + 8), issue=5),
    # with a compact gradient (backward restricted to the mask): only p is touched a cache line per entry
    row("memory", "masked AdamW, index form, compact gradient", "0.5% of 100M",
        ("MaskedAdamWBenchmark", "indexedCompactGradient", {"density": "0.005"}), ["masked_adamw_indexed_compact"], "ms",
        bytes_=500_000 * (2 * 64 + 5 * F32 + 8), issue=5),
    row("memory", "masked AdamW, dense form (u8 mask)", "100M f32",
        ("MaskedAdamWBenchmark", "maskedDense", {"density": "0.005"}), ["masked_adamw_dense"], "GB/s",
        bytes_=BIG + 7 * BIG * F32, metric="bytes", issue=5),
    row("memory", "AdamW step (engine optimizer)", "100M f32",
        ("MaskedAdamWBenchmark", "engineDense", {"density": "0.005"}), ["adamw_100M"], "GB/s",
        bytes_=7 * BIG * F32, metric="bytes", issue=5),
    row("compute", "sgemm, direct cblas_sgemm (FLOP ceiling)", "1024^3", ("MatmulBenchmark", "cblas", {"n": "1024"}),
        ["numpy_mm_1024"], "GFLOP/s", bytes_=3 * 1024 * 1024 * F32, flops=2 * 1024 ** 3),
    row("compute", "sgemm, direct cblas_sgemm (FLOP ceiling)", "2048^3", ("MatmulBenchmark", "cblas", {"n": "2048"}),
        ["numpy_mm_2048"], "GFLOP/s", bytes_=3 * 2048 * 2048 * F32, flops=2 * 2048 ** 3),
    row("compute", "matmul (Tensor.matmul, allocates)", "1024^3", ("MatmulBenchmark", "engine", {"n": "1024"}),
        ["mm_1024"], "GFLOP/s", bytes_=3 * 1024 * 1024 * F32, flops=2 * 1024 ** 3),
    row("compute", "matmul (Tensor.matmul, allocates)", "2048^3", ("MatmulBenchmark", "engine", {"n": "2048"}),
        ["mm_2048"], "GFLOP/s", bytes_=3 * 2048 * 2048 * F32, flops=2 * 2048 ** 3),
    *[row("compute", "Linear 4096->4096 f32 forward", f"batch {b}", ("LinearBenchmark", "forward", {"batch": str(b)}),
          ["linear_b1", "linear_b1_addmv"] if b == 1 else [f"linear_b{b}"], "GFLOP/s+W", **{
              "bytes_": linear_work(b)["bytes"], "flops": linear_work(b)["flops"]}) for b in (1, 8, 64)],
    # forward + backward of one Linear, input without gradient: two GEMMs with the full weight gradient; with the
    # gradient restricted to 0.5% of the weight the second is an SDDMM (the peer can only compute the full one)
    *[row("compute", f"Linear 4096->4096 forward + backward, {how} weight gradient", "batch 64",
          ("MaskedBackwardBenchmark", "forwardBackward", {"gradient": grad, "density": "0.005"}), ["linear_b64_backward"],
          "ms", bytes_=linear_work(64)["bytes"] + 4096 * 4096 * F32,
          flops=linear_work(64)["flops"] * (2 if grad == "full" else 1), issue=5)
      for grad, how in (("full", "full"), ("masked", "0.5%-masked"))],
    row("fisher", "diagonal Fisher, MLP 784-1024-1024-10", "1024 examples",
        ("FisherBenchmark", "fisherMlp1024Examples", {}), ["fisher_mlp_1024"], "ex/s",
        bytes_=sum(i * o + o for i, o in MLP) * F32 * 2, flops=FISHER_FLOPS, per_op=FISHER_EXAMPLES, issue=6),
    row("fisher", "FISH top-k: indices of the largest 0.5%", "100M f32", ("FisherBenchmark", "fishTopKHalfPercentOf100M", {}),
        ["topk_100M"], "ms", bytes_=BIG * F32, issue=6),
    row("fisher", "Fisher merge (fused, floored)", "2 x 100M", ("FisherBenchmark", "fisherMerge2x100M", {}),
        ["merge_2x100M"], "GB/s", bytes_=5 * BIG * F32, issue=6),
    # int8: the weight is 16 MiB of codes (+ scales); the bound is reading it once or the int8 ops at the VNNI peak
    # counted as FLOPs against the f32 sgemm ceiling, so "of bound" is conservative for batch 64.
    *[row("int8", "int8 Linear 4096x4096 (per-row x, per-channel W)", f"batch {b}",
          ("LinearBenchmark", "int8", {"batch": str(b)}), [f"qlinear_b{b}"], "ms",
          bytes_=4096 * 4096 + 2 * 4096 * F32 + 2 * b * 4096 * F32, issue=7) for b in (1, 8, 64)],
    row("int8", "blockwise 8-bit quantize (block 4096)", "16M f32", ("QuantizeBenchmark", "quantize", {}), ["quantize_16M"],
        "GB/s", bytes_=N16 * (F32 + 1) + (N16 // 4096) * F32, metric="bytes", issue=7),
    row("int8", "blockwise 8-bit dequantize (block 4096)", "16M f32", ("QuantizeBenchmark", "dequantize", {}),
        ["dequantize_16M"], "GB/s", bytes_=N16 * (F32 + 1) + (N16 // 4096) * F32, metric="bytes", issue=7),
    row("decoder", "decode 1 token, 12 x d768 blocks, KV cache", "context 128",
        ("DecoderBenchmark", "decodeStep", {"weights": "f32"}), ["decode_step"], "steps/s", bytes_=DECODE_BYTES,
        flops=DECODE_FLOPS, ceiling="read"),
    row("decoder", "parallel forward, 12 x d768 blocks", "128 tokens", ("DecoderBenchmark", "forward128", {"weights": "f32"}),
        ["forward_128"], "tok/s", bytes_=FWD_BYTES, flops=FWD_FLOPS, per_op=CONTEXT),
    row("decoder", "decode 1 token, int8 projections (LLM.int8)", "context 128",
        ("DecoderBenchmark", "decodeStep", {"weights": "int8"}), ["decode_step_int8"], "steps/s",
        bytes_=DECODE_BYTES - LAYERS * 12 * D * D * 3, issue=7, ceiling="read"),
    row("decoder", "parallel forward, int8 projections (LLM.int8)", "128 tokens",
        ("DecoderBenchmark", "forward128", {"weights": "int8"}), ["forward_128_int8"], "tok/s", flops=FWD_FLOPS,
        per_op=CONTEXT, issue=7),  # int8 multiply-adds counted against the f32 FLOP ceiling: a loose bound
    # whole models: rows added below, one per model, weights and context
]
MODEL_DECODE_ROWS = [  # (model, weights, what the row says, the peer's key at context 128, or why there is none)
    ("gpt2-small", "f32", "whole GPT-2-small-shape model (124M, tied head)", "model_decode"),
    ("gpt2-small", "bf16", "whole model, BF16 weights (head too)", "model_decode_bf16"),
    ("gpt2-small", "int8", "whole model, int8 projections, f32 head", "model_decode_int8_blocks"),
    ("gpt2-small", "int8-all", "whole model, int8 projections, embeddings and head", "model_decode_int8"),
    ("tinyllama", "f32", "TinyLlama-1.1B-shape model (untied head)", "model_decode_tinyllama"),
    ("tinyllama", "bf16", "TinyLlama shape, BF16 weights", "model_decode_tinyllama_bf16"),
    ("tinyllama", "int8", "TinyLlama shape, int8 projections and head", "model_decode_tinyllama_int8"),
    ("tinyllama", "int8-all", "TinyLlama shape, int8 projections, head and embeddings", None),
]
MODEL_SHAPES = {"gpt2-small": "GPT-2-small shape", "tinyllama": "TinyLlama shape"}
# the rows also measured over an F16 KV cache (opt-in, ModelDecodeBenchmark -p kv=f16; llama.cpp's cache is F16 in
# every row), at the longest context, where the cache is the largest share of a step's bytes: (weights, context)
KV_F16_ROWS = {("bf16", max(DECODE_CONTEXTS))}
F16 = 2


def model_prefill_rows():
    """MODEL_DECODE_ROWS without int8-all (its embeddings change only the lookup), and after each BF16 row the same
    weights with the activations rounded to BF16 at the products (opt-in: PyTorch's BF16 arithmetic, on vdpbf16ps),
    against the same PyTorch BF16 figure."""
    for model, weights, what, peer in MODEL_DECODE_ROWS:
        if weights != "int8-all":
            yield model, weights, what, peer
        if weights == "bf16":
            yield model, BF16_ROUNDED, what + ", activations rounded to BF16 (opt-in)", peer


for _ctx in DECODE_CONTEXTS:
    for _model, _weights, _what, _peer in MODEL_DECODE_ROWS:
        _bytes, _flops = model_decode_work(_model, _weights, _ctx)
        ROWS.append(row("decoder", "decode 1 token, " + _what, f"context {_ctx}",
                        ("ModelDecodeBenchmark", "decodeStep", {"model": _model, "weights": _weights, "context": str(_ctx)}),
                        [_peer + context_suffix(_ctx)] if _peer else "n/a: PyTorch has no int8 embedding",
                        "tok/s", bytes_=_bytes, flops=_flops, issue=14, ceiling="read",
                        jlama=[engine_key(_model, _weights, _ctx)] if _weights in JLAMA_WEIGHTS else "n/a: Jlama has no int8 weights",
                        llamacpp=[engine_key(_model, _weights, _ctx)] if _weights in LLAMACPP_WEIGHTS
                        else "n/a: its Q8_0 quantizes the head too (the next row)"))
        if (_weights, _ctx) in KV_F16_ROWS:
            _bytes, _ = model_decode_work(_model, _weights, _ctx, kv=F16)
            ROWS.append(row("decoder", "decode 1 token, " + _what + ", KV cache F16 (opt-in)", f"context {_ctx}",
                            ("ModelDecodeBenchmark", "decodeStep",
                             {"model": _model, "weights": _weights, "context": str(_ctx), "kv": "f16"}),
                            "n/a: bench/peer.py's cache is F32", "tok/s", bytes_=_bytes, issue=14, ceiling="read",
                            jlama="n/a: not measured with an F16 cache", llamacpp=[engine_key(_model, _weights, _ctx)]))
        if _weights == "int8-all":  # after a model's rows: Jlama's own 4-bit weights, which neither other side has
            ROWS.append(row("decoder", f"decode 1 token, {MODEL_SHAPES[_model]}, Jlama's Q4 weights (head and embeddings too)",
                            f"context {_ctx}",
                            "n/a: Tessera has no 4-bit weights", "n/a: no 4-bit weights in bench/peer.py", "tok/s",
                            jlama=[engine_key(_model, JLAMA_Q4, _ctx)]))
BATCHED_DECODE_ROWS = [r for r in MODEL_DECODE_ROWS if r[1] in ("f32", "bf16", "int8")]
for _model, _weights, _what, _peer in BATCHED_DECODE_ROWS:
    for _batch in DECODE_BATCHES:
        _bytes, _flops = model_decode_work(_model, _weights, BATCHED_CONTEXT, _batch)
        ROWS.append(row("decoder", f"decode {_batch} prompts at once, " + _what, f"context {BATCHED_CONTEXT}",
                        ("BatchedDecodeBenchmark", "decodeStep", {"model": _model, "weights": _weights, "batch": str(_batch)}),
                        [_peer + batch_suffix(_batch)], "tok/s", bytes_=_bytes, flops=_flops, per_op=_batch, issue=14,
                        ceiling="read"))
for _tokens in PREFILL_TOKENS:
    for _model, _weights, _what, _peer in model_prefill_rows():
        _bytes, _flops = model_prefill_work(_model, _weights, _tokens)
        ROWS.append(row("decoder", "prefill (prompt to first logits), " + _what, f"{_tokens} tokens",
                        ("ModelPrefillBenchmark", "prefill", {"model": _model, "weights": _weights, "tokens": str(_tokens)}),
                        [prefill_key(_peer, _tokens)], "tok/s", bytes_=_bytes, flops=_flops, per_op=_tokens, issue=14))
_lengths = ",".join(map(str, PADDED_PREFILL_LENGTHS))
# the work of each prompt alone, its padding left out (FLOPs summed; bytes: the weights once, the longest prompt's cache)
_bytes = model_prefill_work("gpt2-small", "f32", max(PADDED_PREFILL_LENGTHS))[0]
_flops = sum(model_prefill_work("gpt2-small", "f32", n)[1] for n in PADDED_PREFILL_LENGTHS)
ROWS.append(row("decoder", "prefill of left-padded prompts to their first tokens, one batch, GPT-2-small shape",
                " + ".join(map(str, PADDED_PREFILL_LENGTHS)) + " tokens",
                ("PaddedPrefillBenchmark", "firstToken", {"model": "gpt2-small", "lengths": _lengths}),
                [padded_prefill_key(PADDED_PREFILL_LENGTHS)], "tok/s", bytes_=_bytes, flops=_flops,
                per_op=sum(PADDED_PREFILL_LENGTHS), issue=14))
COPY_ROWS = [("EngineBenchmark", "copy", "copy_64M"), ("Blas1Benchmark", "copy", "copy_16M")]
READ_ROWS = [("Blas1Benchmark", "sumBeyondCaches", "sum_1G")]
LOWER_IS_BETTER = {"ns/call", "ms"}
# the notes under the table: how each side ran, then one per way a peer measured a row
PYTORCH_NOTE, TESSERA_NOTE, JLAMA_NOTE, LLAMACPP_NOTE, FIRST_HOW_NOTE = 1, 2, 3, 4, 5
PYTORCH_REASON_CHARS = 60  # a Python exception's message can be long; Jlama's reasons are one bounded line


# ---- reading the inputs ---------------------------------------------------------------------------------------
TIME_UNITS = {"s/op": 1.0, "ms/op": 1e-3, "us/op": 1e-6, "ns/op": 1e-9}
RATE_UNITS = {"ops/s": 1.0, "ops/ms": 1e3, "ops/us": 1e6, "ops/ns": 1e9}


DEFAULT_PARAMS = {("device", "cpu"), ("kv", "f32")}


def load_jmh(path):
    """{(class, method, frozenset(params)): entry} plus a list of the same keys in file order."""
    out = {}
    if not path or not os.path.exists(path):
        return out
    with open(path) as f:
        text = f.read().strip()
    if not text:
        return out
    for e in json.loads(text):
        parts = e["benchmark"].split(".")
        # parameters at their defaults are left out of the key: the rows are CPU rows (device=cpu, for benchmarks that
        # also run on a GPU) with F32 KV caches (kv=f32; -p kv=f16 is opt-in)
        params = {k: v for k, v in (e.get("params") or {}).items() if (k, v) not in DEFAULT_PARAMS}
        key = (parts[-2], parts[-1], frozenset(params.items()))
        out[key] = e
    return out


def jmh_seconds(entry, spec):
    """Seconds per op of the row's workload in the best measurement iteration, and the relative half-width
    of JMH's 99.9% interval around the mean of the iterations (a noise indicator).

    The best iteration, not the mean, so that both sides are read the same way: a JMH iteration is the mean
    over about a second of calls, a peer round the median over about half a second, and each side reports its
    best window; a neighbour's burst on this shared machine then costs an iteration, not the figure."""
    if spec["metric"] == "bytes":
        m = entry.get("secondaryMetrics", {}).get("bytes")
        if m and m["score"] > 0:  # bytes per second, summed over threads
            return spec["bytes"] / best(m, higher=True), rel_error(m)
    pm = entry["primaryMetric"]
    unit = pm["scoreUnit"]
    if unit in TIME_UNITS:
        return best(pm, higher=False) * TIME_UNITS[unit], rel_error(pm)
    if unit in RATE_UNITS:
        return 1.0 / (best(pm, higher=True) * RATE_UNITS[unit]), rel_error(pm)
    raise ValueError(f"unknown JMH unit {unit} in {entry['benchmark']}")


def samples(metric):
    """A JMH metric's per-iteration values, every fork's in order."""
    return [x for fork in (metric or {}).get("rawData") or [] for x in fork]


def iteration_seconds(entry):
    """Seconds per op of each measurement iteration, in order (time units only), or []."""
    pm = entry["primaryMetric"]
    scale = TIME_UNITS.get(pm["scoreUnit"])
    return [x * scale for x in samples(pm)] if scale else []


def read_rates_around(entry):
    """The machine's read rate around each measurement iteration, in bytes/s: the higher of the 1 GiB sums just before
    and just after it (ReadBandwidthAround in jmh/); [] where the benchmark did not measure them."""
    secondary = entry.get("secondaryMetrics", {})
    before, after = (samples(secondary.get(f"readBytesPerSecond{w}")) for w in ("Before", "After"))
    return [max(b, a) for b, a in zip(before, after)]


def read_rate_around(entry, spec):
    """How the row read against the read rate around each of its iterations: the median over iterations of (bytes /
    that rate) / the iteration's time, and the lowest and highest of those rates; None where they were not measured."""
    rates, times = read_rates_around(entry), iteration_seconds(entry)
    if not rates or len(rates) != len(times) or min(rates) <= 0:
        return None
    return statistics.median(spec["bytes"] / r / t for r, t in zip(rates, times)), min(rates), max(rates)


def best(metric, higher):
    values = samples(metric)
    if not values:
        return metric["score"]
    return max(values) if higher else min(values)


def rel_error(metric):
    err, score = metric.get("scoreError"), metric.get("score")
    if isinstance(err, str):  # JMH writes "NaN" when there were too few iterations for an interval
        err = float(err)
    if err is None or score in (None, 0) or math.isnan(err):
        return None
    return abs(err / score)


def load_peer(path):
    if not path or not os.path.exists(path):
        return {"error": f"no peer results ({path or 'not given'})", "results": {}, "errors": {}, "meta": {}}
    with open(path) as f:
        doc = json.load(f)
    doc.setdefault("results", {})
    doc.setdefault("errors", {})
    doc.setdefault("meta", {})
    return doc


# ---- formatting -----------------------------------------------------------------------------------------------
def side_note(number, name, doc, describe):
    """A peer's note under the table: how it ran (describe(its meta)), or why it did not."""
    return f"{number}. {name} side unavailable: {doc['error']}" if doc.get("error") else f"{number}. {describe(doc['meta'])}"


def llamacpp_check_text(check):
    """What bench/llamacpp-peer/check.py found: that the conversion computes Tessera's model."""
    if not check:
        return ", conversion not checked in this run"
    worst = ", ".join(f"{name} {w:.1e}" for name, w in check["worst"].items())
    return (f", checked by bench/llamacpp-peer/check.py: llama.cpp's next-token log-probabilities at {check['positions']} "
            f"positions of tiny F32 models match Tessera's to {worst} of their standard deviation (bound {check['tolerance']})")


def fmt_num(x):
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def figure(spec, seconds):
    unit = spec["unit"]
    if unit == "ns/call":
        return f"{fmt_num(seconds * 1e9)} ns"
    if unit == "ms":
        return f"{fmt_num(seconds * 1e3)} ms"
    if unit == "GB/s":
        return f"{fmt_num(spec['bytes'] / seconds / 1e9)} GB/s"
    if unit == "GFLOP/s":
        return f"{fmt_num(spec['flops'] / seconds / 1e9)} GFLOP/s"
    if unit == "GFLOP/s+W":  # Linear: FLOP rate and weight-read rate
        w = 4096 * 4096 * F32
        return f"{fmt_num(spec['flops'] / seconds / 1e9)} GFLOP/s, W {fmt_num(w / seconds / 1e9)} GB/s ({fmt_num(seconds * 1e3)} ms)"
    return f"{fmt_num(spec['per_op'] / seconds)} {unit}"


def fmt_bytes(b):
    return f"{b / 1e9:.3g} GB" if b >= 1e8 else f"{b / 1e6:.3g} MB"


def fmt_flops(f):
    return f"{f / 1e9:.3g} G" if f else "—"


def fmt_time(s):
    return f"{s * 1e3:.3g} ms" if s >= 1e-4 else f"{s * 1e6:.3g} us"


def around_cell(entry, spec):
    around = read_rate_around(entry, spec) if spec["ceiling"] == "read" else None
    if around is None:
        return "—"
    share, low, high = around
    return f"{share * 100:.0f}% (R {fmt_num(low / 1e9)}-{fmt_num(high / 1e9)} GB/s)"


def roofline(spec, bw, fl):
    """(bound name, roofline seconds) or (reason, None)."""
    if not spec["bytes"] and not spec["flops"]:
        return "call latency", None
    t_mem = spec["bytes"] / bw if bw else 0
    t_fl = spec["flops"] / fl if fl else 0
    if not t_mem and not t_fl:
        return "?", None
    return ("memory" if t_mem >= t_fl else "FLOPs"), max(t_mem, t_fl)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jmh", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--jlama", help="jlama.json written by bench/jlama-peer (the Jlama column)")
    ap.add_argument("--llamacpp", help="llamacpp.json written by bench/llamacpp-peer (the llama.cpp column)")
    ap.add_argument("--meta", help="run.json written by scripts/bench (command, start, load average)")
    ap.add_argument("--ttft", help="the time-to-first-token runs' log written by scripts/bench")
    ap.add_argument("--out", help="also write the markdown here")
    ap.add_argument("--doc", help="replace the bench block of this markdown file")
    args = ap.parse_args()

    jmh = load_jmh(args.jmh)
    peer = load_peer(args.peer)
    jlama = load_peer(args.jlama)
    llamacpp = load_peer(args.llamacpp)
    meta = {}
    if args.meta and os.path.exists(args.meta):
        with open(args.meta) as f:
            meta = json.load(f)
    classes = {k[0] for k in jmh}

    def tessera_entry(spec):
        cls, method, params = spec["tessera"]
        return jmh.get((cls, method, frozenset(params.items())))

    def peer_best(keys, doc=peer):
        """(seconds, key) of the fastest of keys a peer measured, or (None, None); keys may be an "n/a" string or None."""
        if doc.get("error") or not isinstance(keys, list):
            return None, None
        found = [(doc["results"][k]["seconds"], k) for k in keys if k in doc["results"]]
        return min(found) if found else (None, None)

    def peer_cells(doc, engine, note, spec, keys, t, reason_chars=None):
        """A peer's figure for a row (with the note of how it was measured) and the ratio of its time to Tessera's t;
        where it failed, its reason, cut to reason_chars."""
        if keys is None:
            return ["—", "—"]
        if isinstance(keys, str):
            return [keys, "—"]
        if doc.get("error"):
            return [f"unavailable ({note})", "—"]
        pt, key = peer_best(keys, doc)
        if pt is None:
            reasons = [doc["errors"][k] for k in keys if k in doc["errors"]]
            if reasons:  # a reason the peer gives for not running a row is shown whole, a failure shortened
                return [reasons[0] if reasons[0].startswith("n/a") else f"failed: {reasons[0][:reason_chars]}", "—"]
            return [f"not measured ({doc['failed']})" if doc.get("failed") else "not measured", "—"]
        how = f"{engine}: {doc['results'][key]['how']}"
        if how not in notes:
            notes.append(how)
        return [figure(spec, pt) + f" ({notes.index(how) + FIRST_HOW_NOTE})", f"{pt / t:.2f}x" if t else "—"]

    def best_bandwidth(rows, what):
        """(bytes/s, where from): the best of Tessera's and PyTorch's figures of these (JMH class, method, peer key)."""
        found = []
        for cls, method, pkey in rows:
            spec = next(r for r in ROWS if r["tessera"][:2] == (cls, method))
            e = jmh.get((cls, method, frozenset()))
            if e:
                found.append((spec["bytes"] / jmh_seconds(e, spec)[0], f"Tessera {cls}.{method}"))
            if pkey in peer["results"]:
                found.append((spec["bytes"] / peer["results"][pkey]["seconds"], f"PyTorch {peer['results'][pkey]['how']}"))
        return max(found) if found else (None, f"no {what} measured")

    # ceilings measured in this run
    bw, bw_from = best_bandwidth(COPY_ROWS, "copy")
    rd, rd_from = best_bandwidth(READ_ROWS, "read")
    around = max((r for e in jmh.values() for r in read_rates_around(e)), default=0)
    if around > (rd or 0):  # the same 1 GiB sum, run next to the decode benchmarks' iterations: R is the best of all of them
        rd, rd_from = around, "Tessera's 1 GiB sum measured around a decode benchmark's iterations (ReadBandwidthAround)"
    ceilings = {"copy": bw, "read": rd}
    sgemms = []
    for n in ("1024", "2048"):
        e = jmh.get(("MatmulBenchmark", "cblas", frozenset({("n", n)})))
        if e:
            sgemms.append((2 * int(n) ** 3 / jmh_seconds(e, {"metric": "time"})[0], f"cblas_sgemm {n}^3"))
    fl, fl_from = max(sgemms) if sgemms else (None, "no cblas_sgemm measured")

    header = ["operation", "size", "Tessera", "PyTorch", "Tessera / PyTorch", "Jlama", "Tessera / Jlama", "llama.cpp",
              "Tessera / llama.cpp", "bound", "of bound"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    bheader = ["operation", "size", "bytes", "FLOPs", "bytes / B", "FLOPs / P", "Tessera time", "of bound",
               "of the read rate around it", "PyTorch of bound", "Jlama of bound", "llama.cpp of bound"]
    blines = ["| " + " | ".join(bheader) + " |", "|" + "---|" * len(bheader)]
    notes = []
    claimed = set()
    for spec in ROWS:
        cells = [spec["op"], spec["size"]]
        if isinstance(spec["tessera"], str):  # a row only the peers have
            cells += [spec["tessera"], *peer_cells(peer, "PyTorch", PYTORCH_NOTE, spec, spec["peer"], None, PYTORCH_REASON_CHARS),
                      *peer_cells(jlama, "Jlama", JLAMA_NOTE, spec, spec["jlama"], None),
                      *peer_cells(llamacpp, "llama.cpp", LLAMACPP_NOTE, spec, spec["llamacpp"], None), "—", "—"]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        cls = spec["tessera"][0]
        if cls not in classes:
            issue = spec["issue"]
            why = f"issue {issue}" if isinstance(issue, int) else f"{issue} issue" if issue else "no benchmark"
            cells += [f"not built yet ({why})"] + ["—"] * (len(header) - 3)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        if spec["tessera"][1] is None:  # a class that landed before its row was declared: printed with the extras
            continue
        e = tessera_entry(spec)
        if e is None:
            cells += ["missing from the JMH results"] + ["—"] * (len(header) - 3)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        claimed.add(e["benchmark"] + str(sorted((e.get("params") or {}).items())))
        t, err = jmh_seconds(e, spec)
        cells.append(figure(spec, t) + (f" ±{err * 100:.0f}%" if err is not None else ""))
        cells += peer_cells(peer, "PyTorch", PYTORCH_NOTE, spec, spec["peer"], t, PYTORCH_REASON_CHARS)
        cells += peer_cells(jlama, "Jlama", JLAMA_NOTE, spec, spec["jlama"], t)
        cells += peer_cells(llamacpp, "llama.cpp", LLAMACPP_NOTE, spec, spec["llamacpp"], t)
        mem = ceilings[spec["ceiling"]]
        bound, tr = roofline(spec, mem, fl)
        cells += [bound, f"{tr / t * 100:.0f}%" if tr else "—"]
        lines.append("| " + " | ".join(cells) + " |")
        if tr:
            pt, jt, lt = peer_best(spec["peer"])[0], peer_best(spec["jlama"], jlama)[0], peer_best(spec["llamacpp"], llamacpp)[0]
            blines.append("| " + " | ".join([
                spec["op"], spec["size"], fmt_bytes(spec["bytes"]), fmt_flops(spec["flops"]),
                (fmt_time(spec["bytes"] / mem) + (" (R)" if spec["ceiling"] == "read" else "")) if mem else "?",
                fmt_time(spec["flops"] / fl) if fl and spec["flops"] else "—",
                fmt_time(t), f"{tr / t * 100:.0f}%", around_cell(e, spec), f"{tr / pt * 100:.0f}%" if pt else "—",
                *(f"{tr / et * 100:.0f}%" if et else "—" for et in (jt, lt))]) + " |")

    extras = [e for k, e in jmh.items()
              if e["benchmark"] + str(sorted((e.get("params") or {}).items())) not in claimed]
    for e in extras:
        pm = e["primaryMetric"]
        params = ", ".join(f"{k}={v}" for k, v in (e.get("params") or {}).items())
        name = e["benchmark"].split(".", 3)[-1].replace("io.tessera.jmh.", "")
        lines.append(f"| {name} | {params or '—'} | {fmt_num(pm['score'])} {pm['scoreUnit']} | "
                     "no peer wired in bench/report.py yet" + " | —" * (len(header) - 4) + " |")

    out = ["## Results", "", *lines, "", *loading_lines(args.ttft), "Ceilings measured in this run:", ""]
    out.append(f"- memory bandwidth B = {fmt_num(bw / 1e9)} GB/s (best copy: {bw_from})" if bw else f"- memory bandwidth: {bw_from}")
    out.append(f"- read bandwidth R = {fmt_num(rd / 1e9)} GB/s (best sum over 1 GiB: {rd_from}); the ceiling of the decode rows, "
               "marked (R)" if rd else f"- read bandwidth: {rd_from}")
    out.append(f"- FLOP rate P = {fmt_num(fl / 1e9)} GFLOP/s (best {fl_from}, OpenBLAS through FFM)" if fl else f"- FLOP rate: {fl_from}")
    out += ["", "What bounds each row: its roofline time max(bytes / B, FLOPs / P), with R in place of B for the rows "
            "marked (R); \"of bound\" = that time / measured time. Bytes are what the operation must read and write at "
            "least once; memory-bound kernels that read more than they write can pass 100% of B, because B is a copy, "
            "whose writes cost more than reads, and cache-resident ones can too. \"Of the read rate around it\" (decode "
            "rows): this machine's read bandwidth moves between phases seconds apart, so the decode benchmarks also "
            "measure it (the best of three 1 GiB sums) just before and just after each of their iterations; the cell is "
            "the median over the iterations of (bytes / the higher of those two rates) / the iteration's time, with the "
            "range of those rates.", "",
            *blines, "", "Notes:", ""]
    out.append(side_note(PYTORCH_NOTE, "PyTorch", peer, lambda m: (
        f"PyTorch {m.get('torch')} / numpy {m.get('numpy')} under {m.get('executable')}, "
        f"{m.get('torch_threads')} threads, OMP_WAIT_POLICY={m.get('OMP_WAIT_POLICY')}, "
        f"OPENBLAS_THREAD_TIMEOUT={m.get('OPENBLAS_THREAD_TIMEOUT')}, "
        f"ATEN_CPU_CAPABILITY={m.get('ATEN_CPU_CAPABILITY')}; each figure is the best of 3-4 rounds' "
        "median call time; where PyTorch has several ways, the fastest is shown.")))
    out.append(f"{TESSERA_NOTE}. Tessera: the best of the 5 one-second JMH measurement iterations; ±: JMH's 99.9% interval of "
               "the mean of those iterations, relative (how noisy the row was). Ratio = peer time / Tessera time.")
    out.append(side_note(JLAMA_NOTE, "Jlama", jlama, lambda m: (
        f"Jlama {m.get('jlama')} (bench/jlama-peer) on {m.get('java')}, {m.get('kernels')} "
        f"({m.get('vector_bits')}-bit vectors), {m.get('threads')} threads; {m.get('working')}; loads the same "
        "Hugging Face directories (scripts/tessera create-model, seed 5) as written, F32 and BF16, and the F32 one "
        "through its quantizer to its Q4; each figure is the best of the iterations' mean step time, as JMH's.")))
    out.append(side_note(LLAMACPP_NOTE, "llama.cpp", llamacpp, lambda m: (
        f"llama.cpp: node-llama-cpp {m.get('version')}'s prebuilt binaries (bench/llamacpp-peer), "
        f"{m.get('threads')} threads, CPU features it reports: {m.get('cpu', '?')}; GGUF files that "
        "bench/llamacpp-peer/hf_to_gguf.py writes from the same directories (same weights; Q8_0 and BF16 by the gguf "
        "package's quantizer)" + llamacpp_check_text(m.get("check")) + "; a step is one token at position context - 1, "
        "its logits and the greedy next token, timed from JavaScript; each figure is the best of "
        f"{m.get('iterations', '?')} one-second iterations' mean step after {m.get('warmup', '?')} s of steps, as JMH's.")))
    for i, n in enumerate(notes, start=FIRST_HOW_NOTE):
        out.append(f"{i}. {n}")
    out += ["", machine_block(meta, peer)]
    text = "\n".join(out) + "\n"

    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.doc:
        replace_block(args.doc, text)
    return 0


TTFT_LINE = re.compile(r"wall (\d+) ms; load ([0-9.]+) s, generate ([0-9.]+) s .*peak resident (\d+) kB \((\d+) kB before "
                       r"loading; the model holds (\d+) kB, its largest tensor as F32 is (\d+) kB\)")


def loading_lines(path):
    """The time-to-first-token table from scripts/bench's log (one line per run), or nothing without one."""
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        runs = [line.strip() for line in f if line.strip()]
    if not runs:
        return []
    mb = lambda kb: f"{int(kb) / 1024:.0f} MB"
    out = ["Time to first token, TinyLlama-shape BF16 checkpoint (2.2 GB, warm page cache) quantized to int8 as it is read "
           "(`tessera generate --int8 --timings --max-new-tokens 1`, a fresh JVM per run). The memory bound (issue 14): "
           "peak resident at most the JVM before loading + the int8 model + one tensor as F32.", "",
           "| run | JVM start to first token | loading | generating | peak resident | before loading | int8 model "
           "| largest tensor as F32 | peak over the bound |", "|---|---|---|---|---|---|---|---|---|"]
    for i, line in enumerate(runs, start=1):
        m = TTFT_LINE.search(line)
        if not m:
            out.append(f"| {i} | {line[:120]} | — | — | — | — | — | — | — |")
            continue
        wall, load, gen, peak, before, model, largest = m.groups()
        over = int(peak) - int(before) - int(model) - int(largest)
        out.append(f"| {i} | {int(wall) / 1000:.2f} s | {load} s | {gen} s | {mb(peak)} | {mb(before)} | {mb(model)} | "
                   f"{mb(largest)} | {'none: ' + mb(-over) + ' under' if over <= 0 else mb(over)} |")
    return out + [""]


def machine_block(meta, peer):
    cpu = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = (s.strip() for s in line.split(":", 1))
                    cpu.setdefault(k, v)
                if not line.strip() and cpu:
                    break
    except OSError:
        pass
    flags = set(cpu.get("flags", "").split())
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16") if f in flags) or "?"
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
            mem = f"{kb / (1 << 20):.1f} GiB"
    except (OSError, AttributeError):
        pass
    lines = ["## Run", ""]
    if meta.get("command"):
        lines.append(f"- command: `{meta['command']}`")
    when = meta.get("started") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"- date: {when}" + (f"; whole run took {meta['elapsed']}" if meta.get("elapsed") else ""))
    lines.append(f"- machine: {os.cpu_count()} vCPU {cpu.get('model name', '?')} (family {cpu.get('cpu family', '?')} "
                 f"model {cpu.get('model', '?')}; {isa}), {mem} RAM, kernel {os.uname().release}")
    if meta.get("load_before") or meta.get("load_after"):
        lines.append(f"- load average (1/5/15 min) before: {meta.get('load_before', '?')}; after: {meta.get('load_after', '?')}")
    if meta.get("java"):
        lines.append(f"- Tessera: {meta['java']}; JMH {meta.get('jmh_options', '')}; "
                     f"OMP_NUM_THREADS={meta.get('omp_threads', '?')}, OPENBLAS_NUM_THREADS={meta.get('blas_threads', '?')}")
    if meta.get("openblas"):
        lines.append(f"- {meta['openblas']}")
    return "\n".join(lines)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def replace_block(path, text):
    block = f"{BEGIN}\n<!-- generated by scripts/bench --update-doc from one run; do not edit by hand -->\n\n{text}\n{END}"
    if os.path.exists(path):
        with open(path) as f:
            doc = f.read()
        if BEGIN in doc and END in doc:
            doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
        else:
            doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    else:
        doc = "# Performance\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)
    print(f"report: updated the bench block of {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
