#!/usr/bin/python3
"""PyTorch side of scripts/bench: times the operations of the JMH suite on the same sizes.

Run with Debian's interpreter (/usr/bin/python3, which sees python3-torch and python3-numpy), ideally with
OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=20 and ATEN_CPU_CAPABILITY=avx512 in the environment (set below if missing, before
torch is imported). Every figure is the best of ROUNDS medians: each round times REPS calls one by one and
takes their median; the best round is reported, so a noisy neighbour costs a round, not the figure.
Where PyTorch has several ways to do an operation, the fastest one is reported (the peer's best
configuration) and named.

Writes JSON: {"meta": {...}, "results": {key: {"seconds": s, "how": "..."}}, "errors": {key: "..."}}.
Keys are the ones bench/report.py joins on. Standard library + torch + numpy only.
"""

import argparse
import copy
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback

from decode_keys import (BATCHED_CONTEXT, DECODE_BATCHES, DECODE_CONTEXTS, PADDED_PREFILL_LENGTHS, PREFILL_TOKENS, batch_suffix,
                         context_suffix, padded_prefill_key, prefill_key)

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")  # as Tessera sets it: OpenBLAS workers stop spinning after ~0.3 ms
with open("/proc/cpuinfo") as cpuinfo:  # AVX-512 kernels only where the CPU has them (elsewhere: SIGILL)
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx512" if " avx512f" in cpuinfo.read() else "avx2")

ROUNDS = 4
ROUND_SECONDS = 0.5  # each round runs about this long (at least MIN_REPS calls)
MIN_REPS = 3
# Seconds one prefill call may take to be repeated; longer prompts of a model whose shortest one predicts more (linearly,
# so an underestimate) are not run. PyTorch's BF16 GEMM on a CPU without AVX512-BF16 runs at ~2 GFLOP/s: 18 s for
# GPT-2's 128 tokens, and TinyLlama's 1024 would take most of an hour a call, five calls a row.
PREFILL_CALL_BUDGET = 60


def best_median(fn, rounds=ROUNDS, round_seconds=ROUND_SECONDS, min_reps=MIN_REPS, setup=None):
    """Best over rounds of the median per-call time of fn() (seconds). setup() runs untimed before each call."""
    for _ in range(2):  # warm up: first-touch of outputs, allocator pools, lazy init
        if setup:
            setup()
        fn()
    if setup:
        setup()
    t0 = time.perf_counter()
    fn()
    estimate = max(time.perf_counter() - t0, 1e-7)
    reps = max(min_reps, min(1000, int(round_seconds / estimate)))
    medians = []
    for _ in range(rounds):
        samples = []
        for _ in range(reps):
            if setup:
                setup()
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        medians.append(statistics.median(samples))
    return min(medians)


def fill_earlier_positions(caches):
    """KV caches [(keys, values), ...] as a prompt would leave them, with random values: what a decoding step costs does not
    depend on them, and a 1023-token BF16 prefill to make them takes ~20 min on a CPU without a BF16 GEMM."""
    for keys, values in caches:
        keys.normal_()
        values.normal_()


def best_median_tiny(fn, calls=200_000, rounds=ROUNDS, inner=5):
    """For sub-microsecond calls: per-call time from loops of `calls` calls; best of rounds of medians."""
    def loop():
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) / calls

    loop()
    return min(statistics.median(loop() for _ in range(inner)) for _ in range(rounds))


def gpt2_block(torch, d, heads):
    """GPT-2's pre-norm block as plain nn.Modules (eager, preallocated KV cache written in place) and how it attends."""
    F = torch.nn.functional
    nn = torch.nn
    hd = d // heads
    sdpa = getattr(F, "scaled_dot_product_attention", None)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d)
            self.c_attn = nn.Linear(d, 3 * d)
            self.c_proj = nn.Linear(d, d)
            self.ln_2 = nn.LayerNorm(d)
            self.c_fc = nn.Linear(d, 4 * d)
            self.mlp_proj = nn.Linear(4 * d, d)

        def forward(self, x, cache=None, past=0, allowed=None):
            """allowed: None for plain causal attention, else a [B, 1, T, past + T] bool mask of the keys each query sees."""
            B, T, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            q = q.view(B, T, heads, hd).transpose(1, 2)
            k = k.view(B, T, heads, hd).transpose(1, 2)
            v = v.view(B, T, heads, hd).transpose(1, 2)
            if cache is not None:
                keys, values = cache
                keys[:, :, past:past + T] = k
                values[:, :, past:past + T] = v
                k = keys[:, :, :past + T]
                v = values[:, :, :past + T]
            if sdpa is not None:
                y = sdpa(q, k, v, is_causal=(T > 1 and past == 0)) if allowed is None else sdpa(q, k, v, attn_mask=allowed)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
                if allowed is not None:
                    att = att.masked_fill(~allowed, float("-inf"))
                elif T > 1:
                    mask = torch.ones(T, past + T, dtype=torch.bool).triu(past + 1)
                    att = att.masked_fill(mask, float("-inf"))
                y = att.softmax(dim=-1) @ v
            y = y.transpose(1, 2).reshape(B, T, d)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    return Block, ("F.scaled_dot_product_attention" if sdpa else "manual softmax(q k^T / sqrt(d)) v")


class Peer:
    def __init__(self, torch, np, have):
        self.torch = torch
        self.np = np
        self.have = have  # JMH benchmark classes present on the Tessera side
        self.results = {}
        self.errors = {}

    def record(self, key, how, fn, **kw):
        try:
            seconds = fn() if kw.pop("raw", False) else best_median(fn, **kw)
            self.results[key] = {"seconds": seconds, "how": how}
            shown = f"{seconds * 1e9:10.1f} ns" if seconds < 1e-5 else f"{seconds * 1e3:10.3f} ms"
            print(f"  {key:<28} {shown}   ({how})", flush=True)
        except Exception as e:  # one failing op must not lose the others
            self.errors[key] = f"{type(e).__name__}: {e}"
            print(f"  {key:<28} FAILED: {self.errors[key]}", flush=True)
            traceback.print_exc()

    # ---- FFM downcall: no Java->native boundary in PyTorch; the nearest thing is a Python->C call
    def call_overhead(self):
        torch = self.torch
        self.record("call_overhead", "Python->C call of torch.is_grad_enabled(), per call incl. loop",
                    lambda: best_median_tiny(torch.is_grad_enabled), raw=True)

    # ---- memory-bound ops
    def bandwidth(self):
        torch = self.torch
        n64 = 64 << 20
        n16 = 16 << 20
        with torch.no_grad():
            a = torch.rand(n64)
            b = torch.rand(n64)
            c = torch.rand(n64)
            self.record("copy_64M", "b.copy_(a)", lambda: b.copy_(a))
            self.record("triad_64M", "torch.add(b, c, alpha=3, out=a)", lambda: torch.add(b, c, alpha=3.0, out=a))
            self.record("add_64M", "a + b (allocates the result)", lambda: a + b)
            del a, b, c
            x = torch.rand(n16)
            y = torch.zeros(n16)
            self.record("copy_16M", "y.copy_(x)", lambda: y.copy_(x))
            self.record("axpy_16M", "y.add_(x, alpha=1e-7)", lambda: y.add_(x, alpha=1e-7))
            self.record("sum_16M", "x.sum()", lambda: x.sum())
            del x, y
            big = torch.rand(1 << 28)  # 1 GiB: beyond the last-level cache, the decode rows' read ceiling
            self.record("sum_1G", "x.sum() over 1 GiB", lambda: big.sum())
            del big

    def adamw(self):
        torch = self.torch
        n = 64 << 20
        best = None
        for foreach in (False, True):
            p = torch.nn.Parameter(torch.rand(n))
            p.grad = torch.rand(n)
            opt = torch.optim.AdamW([p], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, foreach=foreach)
            key = f"adamw_64M_foreach{int(foreach)}"
            self.record(key, f"torch.optim.AdamW(foreach={foreach}).step()", opt.step)
            if key in self.results and (best is None or self.results[key]["seconds"] < self.results[best]["seconds"]):
                best = key
            del opt, p
        if best:
            self.results["adamw_64M"] = dict(self.results[best])

    # ---- compute-bound ops
    def matmul(self):
        torch, np = self.torch, self.np
        for n in (1024, 2048):
            a = torch.rand(n, n)
            b = torch.rand(n, n)
            with torch.no_grad():
                self.record(f"mm_{n}", "torch.mm(a, b) (allocates the result)", lambda: torch.mm(a, b))
            an, bn = a.numpy(), b.numpy()
            cn = np.empty((n, n), dtype=np.float32)
            self.record(f"numpy_mm_{n}", "numpy.matmul(a, b, out=c) (Debian OpenBLAS)", lambda: np.matmul(an, bn, out=cn))

    def linear(self):
        torch = self.torch
        lin = torch.nn.Linear(4096, 4096)
        for batch in (1, 8, 64):
            x = torch.rand(batch, 4096)
            with torch.inference_mode():
                self.record(f"linear_b{batch}", "nn.Linear forward, inference_mode", lambda: lin(x))
                if batch == 1:
                    w, bias, v = lin.weight, lin.bias, x[0]
                    self.record("linear_b1_addmv", "torch.addmv(bias, W, x) (same product as a GEMV)",
                                lambda: torch.addmv(bias, w, v))

    # ---- int8 dynamic quantization of the same Linear: torch.ao quantize_dynamic. Debian's build has the onednn and
    # qnnpack engines (no fbgemm); onednn is the one to beat (qnnpack: ~56 ms at batch 64 here, and it warns per call)
    def int8_linear(self):
        torch = self.torch
        torch.backends.quantized.engine = "onednn"
        q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(4096, 4096)), {torch.nn.Linear},
                                                   dtype=torch.qint8)
        for batch in (1, 8, 64):
            x = torch.rand(batch, 4096)
            with torch.inference_mode():
                self.record(f"qlinear_b{batch}", "quantize_dynamic(qint8), engine onednn", lambda: q(x))

    # ---- decoder: GPT-2-small-sized blocks (12 x d=768, 12 heads, MLP 4d) + final LayerNorm, f32, batch 1
    def decoder(self):
        torch = self.torch
        nn = torch.nn
        d, heads, layers, ctx = 768, 12, 12, 128
        hd = d // heads
        Block, attention = gpt2_block(torch, d, heads)

        torch.manual_seed(0)
        blocks = nn.ModuleList([Block() for _ in range(layers)]).eval()
        ln_f = nn.LayerNorm(d)
        caches = [(torch.zeros(1, heads, ctx + 1, hd), torch.zeros(1, heads, ctx + 1, hd)) for _ in range(layers)]
        prompt = torch.randn(1, ctx, d)
        token = torch.randn(1, 1, d)

        def run(x, cached, past):
            for i, blk in enumerate(blocks):
                x = blk(x, caches[i] if cached else None, past)
            return ln_f(x)

        with torch.inference_mode():
            run(prompt, True, 0)  # fill the caches with the 128-token prompt
            self.record("decode_step", f"eager nn.Modules, preallocated KV cache, {attention}, inference_mode",
                        lambda: run(token, True, ctx))
            self.record("forward_128", f"eager nn.Modules, {attention}, inference_mode", lambda: run(prompt, False, 0))
        # the same blocks with every Linear in dynamic int8 (torch.ao quantize_dynamic, engine onednn)
        torch.backends.quantized.engine = "onednn"
        blocks = torch.ao.quantization.quantize_dynamic(blocks, {nn.Linear}, dtype=torch.qint8)
        with torch.inference_mode():
            run(prompt, True, 0)
            self.record("decode_step_int8", f"quantize_dynamic(qint8, onednn) Linears, {attention}, inference_mode",
                        lambda: run(token, True, ctx))
            self.record("forward_128_int8", f"quantize_dynamic(qint8, onednn) Linears, {attention}, inference_mode",
                        lambda: run(prompt, False, 0))

    # ---- a whole GPT-2-small-shape model (vocab 50257, tied head), decode 1 token at context 128, batch 1
    def model_decode(self):
        torch = self.torch
        nn = torch.nn
        vocab, d, heads, layers = 50257, 768, 12, 12
        Block, attention = gpt2_block(torch, d, heads)

        class Gpt2(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte = nn.Embedding(vocab, d)
                self.wpe = nn.Embedding(1024, d)
                self.h = nn.ModuleList([Block() for _ in range(layers)])
                self.ln_f = nn.LayerNorm(d)
                self.lm_head = nn.Linear(d, vocab, bias=False)
                self.lm_head.weight = self.wte.weight  # tied, as GPT2LMHeadModel

            def forward(self, ids, caches, past, last=False):
                x = self.wte(ids) + self.wpe(torch.arange(past, past + ids.shape[1]))
                for blk, cache in zip(self.h, caches):
                    x = blk(x, cache, past)
                return self.lm_head(self.ln_f(x[:, -1:] if last else x))

        torch.manual_seed(0)
        float_model = Gpt2().eval()
        token = torch.tensor([[42]])
        torch.backends.quantized.engine = "onednn"
        variants = [("model_decode", float_model, "f32"),
                    ("model_decode_int8", torch.ao.quantization.quantize_dynamic(
                        float_model, {nn.Linear}, dtype=torch.qint8), "quantize_dynamic(qint8, onednn) Linears, tied head included"),
                    ("model_decode_int8_blocks", self._int8_blocks(float_model), "quantize_dynamic(qint8, onednn) block Linears, f32 head"),
                    ("model_decode_bf16", copy.deepcopy(float_model).to(torch.bfloat16), "bfloat16 weights and activations")]
        for key, model, how in variants:
            dtype = next(model.parameters()).dtype if key == "model_decode_bf16" else torch.float32
            shown = f"eager nn.Modules, {how}, preallocated KV cache, {attention}, inference_mode"

            def caches_for(b, ctx):
                return [(torch.zeros(b, heads, ctx, d // heads, dtype=dtype), torch.zeros(b, heads, ctx, d // heads, dtype=dtype))
                        for _ in range(layers)]

            for ctx in DECODE_CONTEXTS if self._wants("ModelDecodeBenchmark") else ():
                caches = caches_for(1, ctx)  # the token attends to ctx positions, ctx - 1 of them cached
                fill_earlier_positions(caches)
                with torch.inference_mode():
                    self.record(key + context_suffix(ctx), shown, lambda: model(token, caches, ctx - 1))
            if key in ("model_decode", "model_decode_bf16", "model_decode_int8_blocks") and self._wants("BatchedDecodeBenchmark"):
                self._decode_batched(key, shown, model, caches_for, vocab)
            if key != "model_decode_int8":  # Tessera's int8 prefill keeps the tied head f32, as _int8_blocks does
                self._prefill(key, shown, model, caches_for, vocab)
            if key == "model_decode" and self._wants("PaddedPrefillBenchmark"):
                self._padded_prefill(shown, model, caches_for, vocab)

    # ---- a whole TinyLlama-1.1B-shape model (LLaMA: RMSNorm, rotate-half RoPE, 4 KV heads of 32, SwiGLU, untied
    # head), decode 1 token at context 128, batch 1; random weights, as HF's LlamaForCausalLM computes in eager mode
    def model_decode_tinyllama(self):
        torch = self.torch
        nn = torch.nn
        F = torch.nn.functional
        vocab, d, ffn, layers, heads, kv_heads = 32000, 2048, 5632, 22, 32, 4
        hd = d // heads
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        angles = torch.outer(torch.arange(max(DECODE_CONTEXTS)).float(), inv_freq)
        cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()

        def linear(i, o):  # skip the default init of 1.1B weights (minutes); normal(0, 0.02) as HF initialises
            layer = torch.nn.utils.skip_init(nn.Linear, i, o, bias=False)
            with torch.no_grad():
                layer.weight.normal_(0, 0.02)
            return layer

        def rotate_half(x):
            return torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], -1)

        class RmsNorm(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(d))

            def forward(self, x):
                x32 = x.float()
                return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * self.weight

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.input_layernorm, self.post_attention_layernorm = RmsNorm(), RmsNorm()
                self.q_proj, self.k_proj, self.v_proj = linear(d, d), linear(d, kv_heads * hd), linear(d, kv_heads * hd)
                self.o_proj = linear(d, d)
                self.gate_proj, self.up_proj, self.down_proj = linear(d, ffn), linear(d, ffn), linear(ffn, d)

            def forward(self, x, cache, past):
                B, T, _ = x.shape
                h = self.input_layernorm(x)
                q = self.q_proj(h).view(B, T, heads, hd).transpose(1, 2)
                k = self.k_proj(h).view(B, T, kv_heads, hd).transpose(1, 2)
                v = self.v_proj(h).view(B, T, kv_heads, hd).transpose(1, 2)
                c, s = cos[past:past + T].to(x.dtype), sin[past:past + T].to(x.dtype)
                q, k = q * c + rotate_half(q) * s, k * c + rotate_half(k) * s
                keys, values = cache
                keys[:, :, past:past + T] = k
                values[:, :, past:past + T] = v
                k = keys[:, :, :past + T].repeat_interleave(heads // kv_heads, dim=1)  # HF's repeat_kv
                v = values[:, :, :past + T].repeat_interleave(heads // kv_heads, dim=1)
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
                if T > 1:
                    att = att.masked_fill(torch.ones(T, past + T, dtype=torch.bool).triu(past + 1), float("-inf"))
                y = (att.float().softmax(-1).to(x.dtype) @ v).transpose(1, 2).reshape(B, T, d)
                x = x + self.o_proj(y)
                h = self.post_attention_layernorm(x)
                return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))

        class Llama(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed_tokens = torch.nn.utils.skip_init(nn.Embedding, vocab, d)
                with torch.no_grad():
                    self.embed_tokens.weight.normal_(0, 0.02)
                self.layers = nn.ModuleList([Block() for _ in range(layers)])
                self.norm = RmsNorm()
                self.lm_head = linear(d, vocab)

            def forward(self, ids, caches, past, last=False):
                x = self.embed_tokens(ids)
                for blk, cache in zip(self.layers, caches):
                    x = blk(x, cache, past)
                return self.lm_head(self.norm(x[:, -1:] if last else x))

        torch.manual_seed(0)
        token = torch.tensor([[42]])
        torch.backends.quantized.engine = "onednn"
        how = "eager nn.Modules as HF's LlamaForCausalLM (repeat_kv, rotate-half RoPE), preallocated KV cache, inference_mode"
        for key, dtype in [("model_decode_tinyllama", torch.float32), ("model_decode_tinyllama_bf16", torch.bfloat16),
                           ("model_decode_tinyllama_int8", None)]:
            model = Llama().eval()  # one variant in memory at a time: 4.4 GB in f32
            if dtype is None:
                model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
                shown = "quantize_dynamic(qint8, onednn) Linears and head, " + how
            else:
                model = model.to(dtype)
                shown = f"{str(dtype).replace('torch.', '')}, " + how

            def caches_for(b, ctx):
                return [(torch.zeros(b, kv_heads, ctx, hd, dtype=dtype or torch.float32),
                         torch.zeros(b, kv_heads, ctx, hd, dtype=dtype or torch.float32)) for _ in range(layers)]

            for ctx in DECODE_CONTEXTS if self._wants("ModelDecodeBenchmark") else ():
                caches = caches_for(1, ctx)
                fill_earlier_positions(caches)
                with torch.inference_mode():
                    self.record(key + context_suffix(ctx), shown, lambda: model(token, caches, ctx - 1))
                del caches
            if self._wants("BatchedDecodeBenchmark"):
                self._decode_batched(key, shown, model, caches_for, vocab)
            self._prefill(key, shown, model, caches_for, vocab)
            del model

    def _wants(self, benchmark):
        """Whether the Tessera side runs this JMH class (all of them when the caller did not say)."""
        return not self.have or benchmark in self.have

    def _prefill(self, key, shown, model, caches_for, vocab):
        """A prompt of n ids through the whole model into an empty cache, the logits of its last position (as
        ModelPrefillBenchmark and generation do). Few repetitions: the 1024-token TinyLlama rows take seconds per call."""
        if not self._wants("ModelPrefillBenchmark"):
            return
        torch = self.torch
        shortest = None  # (tokens, seconds) of a first call
        for n in PREFILL_TOKENS:
            row = prefill_key(key, n)
            if shortest and shortest[1] * n / shortest[0] > PREFILL_CALL_BUDGET:
                self.errors[row] = (f"n/a: not run ({shortest[0]} tokens took {shortest[1]:.0f} s a call, so {n} "
                                    f"would take over {shortest[1] * n / shortest[0]:.0f} s)")
                print(f"  {row:<28} {self.errors[row]}", flush=True)
                continue
            caches = caches_for(1, n)
            ids = torch.randint(0, vocab, (1, n))
            with torch.inference_mode():
                t0 = time.perf_counter()
                model(ids, caches, 0, last=True)
                first = time.perf_counter() - t0
                shortest = shortest or (n, first)
                how = f"{shown}, {n}-token prompt, logits of its last position"
                if first > PREFILL_CALL_BUDGET:  # that call is the figure (its warm-up costs: ms against minutes)
                    self.record(row, how + ", one call", lambda: first, raw=True)
                else:
                    self.record(row, how, lambda: model(ids, caches, 0, last=True), rounds=2, round_seconds=0,
                                min_reps=1)
            del caches

    def _padded_prefill(self, shown, model, caches_for, vocab):
        """PaddedPrefillBenchmark: prompts of PADDED_PREFILL_LENGTHS left-padded into one batch, prefilled as Hugging Face
        does (each row's positions start at its first token; its queries never see its padding), to each row's first
        greedy token. Padding queries attend causally to the padding, so no softmax row is all -inf (NaN in the cache)."""
        torch = self.torch
        longest = max(PADDED_PREFILL_LENGTHS)
        real = torch.tensor([[j >= longest - n for j in range(longest)] for n in PADDED_PREFILL_LENGTHS])  # [B, T]
        positions = (real.long().cumsum(1) - 1).clamp(min=0)
        causal = torch.ones(longest, longest, dtype=torch.bool).tril()
        allowed = (causal & (real[:, None, :] | ~real[:, :, None]))[:, None]  # [B, 1, T, T]
        ids = torch.randint(0, vocab, (len(PADDED_PREFILL_LENGTHS), longest))

        def first_tokens():
            caches = caches_for(len(PADDED_PREFILL_LENGTHS), longest)
            x = model.wte(ids) + model.wpe(positions)
            for blk, cache in zip(model.h, caches):
                x = blk(x, cache, 0, allowed)
            return model.lm_head(model.ln_f(x[:, -1:])).argmax(-1)

        with torch.inference_mode():
            self.record(padded_prefill_key(PADDED_PREFILL_LENGTHS), f"{shown}, prompts of "
                        f"{' and '.join(map(str, PADDED_PREFILL_LENGTHS))} tokens left-padded, attention mask, first greedy tokens",
                        first_tokens, rounds=2, round_seconds=0, min_reps=1)

    def _decode_batched(self, key, shown, model, caches_for, vocab):
        """Each of DECODE_BATCHES prompts at once: one token each, each attending to its own BATCHED_CONTEXT positions."""
        torch = self.torch
        ctx = BATCHED_CONTEXT
        for batch in DECODE_BATCHES:
            caches = caches_for(batch, ctx)
            tokens = torch.full((batch, 1), 42)
            with torch.inference_mode():
                try:
                    model(torch.randint(0, vocab, (batch, ctx - 1)), caches, 0)
                except Exception as e:  # as record() does: the other rows still run
                    self.errors[key + batch_suffix(batch)] = f"prefill: {type(e).__name__}: {e}"
                    continue
                self.record(key + batch_suffix(batch), f"{shown}, {batch} prompts at once",
                            lambda: model(tokens, caches, ctx - 1))
            del caches

    def _int8_blocks(self, model):
        """A copy of model whose blocks' Linears are dynamic int8 and whose (tied) head stays f32."""
        torch = self.torch
        quantized = copy.deepcopy(model)
        quantized.h = torch.ao.quantization.quantize_dynamic(quantized.h, {torch.nn.Linear}, dtype=torch.qint8)
        quantized.lm_head.weight = quantized.wte.weight
        return quantized

    # ---- sparse/ masked AdamW at 0.5% of 100M (only when the Tessera side has MaskedAdamWBenchmark)
    def masked_adamw(self):
        torch = self.torch
        n, k = 100_000_000, 500_000
        lr, b1, b2, eps, wd, step = 1e-3, 0.9, 0.999, 1e-8, 0.01, 10
        bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
        with torch.no_grad():
            p, g = torch.rand(n), torch.rand(n)
            # one index drawn from each of k equal stretches, sorted (as the Tessera benchmark does)
            idx = torch.arange(k, dtype=torch.int64) * (n // k) + torch.randint(0, n // k, (k,))
            mc, vc = torch.zeros(k), torch.zeros(k)

            def compact_step(gc):  # compact state: gather p, update the 500k entries, scatter back
                pc = p.index_select(0, idx)
                mc.mul_(b1).add_(gc, alpha=1 - b1)
                vc.mul_(b2).addcmul_(gc, gc, value=1 - b2)
                denom = vc.sqrt().div_(math.sqrt(bc2)).add_(eps)
                pc.mul_(1 - lr * wd).addcdiv_(mc, denom, value=-lr / bc1)
                p.index_copy_(0, idx, pc)

            self.record("masked_adamw_indexed", "index_select of g and p, AdamW on compact m/v, index_copy_",
                        lambda: compact_step(g.index_select(0, idx)))
            gk = g.index_select(0, idx)  # the gradient already holding only the masked entries
            self.record("masked_adamw_indexed_compact", "as above with a compact gradient (no gather of g)",
                        lambda: compact_step(gk))
            del mc, vc, gk

            mask = torch.zeros(n)
            mask[idx] = 1.0
            wm, wv = mask * (1 - b1), mask * (1 - b2)  # lerp weights: the mask, precomputed once
            m, v, t1 = torch.zeros(n), torch.zeros(n), torch.empty(n)

            def masked_dense():  # every op in place over all 100M entries; unmasked entries keep p, m, v
                torch.mul(g, g, out=t1)
                v.lerp_(t1, wv)
                m.lerp_(g, wm)
                torch.sqrt(v, out=t1)
                t1.div_(math.sqrt(bc2)).add_(eps)
                torch.div(m, t1, out=t1)
                t1.mul_(lr / bc1).add_(p, alpha=lr * wd)
                t1.mul_(mask)
                p.sub_(t1)

            self.record("masked_adamw_dense", "in place, preallocated: lerp_ with mask weights, sqrt, div, mul by mask",
                        masked_dense, rounds=3)
            del m, v, t1, wm, wv, mask
        param = torch.nn.Parameter(p)
        param.grad = g
        opt = torch.optim.AdamW([param], lr=lr, weight_decay=wd, foreach=False)
        self.record("adamw_100M", "torch.optim.AdamW(foreach=False).step()", opt.step, rounds=3)

    # ---- masked backward: PyTorch has no gradient restricted to a mask for a dense weight (torch.sparse.sampled_addmm
    # wants a sparse CSR output and is not what nn.Linear's autograd runs), so masked fine-tuning there computes the
    # full weight gradient and masks it; this times that full forward + backward (only when Tessera has the benchmark)
    def masked_backward(self):
        torch = self.torch
        lin = torch.nn.Linear(4096, 4096)
        x = torch.rand(64, 4096)

        def step():
            lin.zero_grad(set_to_none=True)
            torch.tanh(lin(x)).sum().backward()

        self.record("linear_b64_backward", "nn.Linear forward + backward (full weight gradient), batch 64", step)

    # ---- fisher/ rows (only when the Tessera side has FisherBenchmark)
    def fisher(self):
        torch, np = self.torch, self.np
        nn = torch.nn
        F = torch.nn.functional
        big = 100_000_000
        # diagonal Fisher, MLP 784-1024-1024-10, 1024 examples, batches of 256: closed form (G^2)^T (X^2)
        torch.manual_seed(0)
        layers = [nn.Linear(784, 1024), nn.Linear(1024, 1024), nn.Linear(1024, 10)]
        inputs = torch.rand(1024, 784)
        labels = torch.randint(0, 10, (1024,))

        def fisher_mlp():
            sums = [(torch.zeros_like(l.weight), torch.zeros_like(l.bias)) for l in layers]
            for start in range(0, 1024, 256):
                h = inputs[start:start + 256]
                xs, outs = [], []
                for i, l in enumerate(layers):
                    xs.append(h)
                    out = l(h)
                    outs.append(out)
                    h = F.relu(out) if i + 1 < len(layers) else out
                loss = F.cross_entropy(h, labels[start:start + 256], reduction="sum")
                grads = torch.autograd.grad(loss, outs)
                with torch.no_grad():
                    for (sw, sb), g, x in zip(sums, grads, xs):
                        g2 = g * g
                        sw.addmm_(g2.t(), x * x)
                        sb.add_(g2.sum(0))
            return [(sw / 1024, sb / 1024) for sw, sb in sums]

        self.record("fisher_mlp_1024", "closed form (G^2)^T (X^2) per batch of 256, autograd.grad to layer outputs",
                    fisher_mlp)

        # FISH top-k: indices of the largest 0.5% of 100M scores
        k = big // 200
        scores = torch.rand(big)
        scores_np = scores.numpy()

        def topk_numpy():
            threshold = np.partition(scores_np, big - k)[big - k]
            return np.flatnonzero(scores_np >= threshold)

        def topk_kthvalue():
            threshold = torch.kthvalue(scores, big - k + 1).values
            return torch.nonzero(scores >= threshold)

        for key, how, fn in (("topk_numpy", "np.partition threshold + np.flatnonzero", topk_numpy),
                             ("topk_kthvalue", "torch.kthvalue threshold + torch.nonzero", topk_kthvalue)):
            self.record(key, how, fn, rounds=3, min_reps=1)
        candidates = [key for key in ("topk_numpy", "topk_kthvalue") if key in self.results]
        if candidates:
            self.results["topk_100M"] = dict(min((self.results[key] for key in candidates), key=lambda r: r["seconds"]))
        # (torch.topk is slower than both on this machine, 2 s; not timed to keep the run short)

        # Fisher merge of two 100M models: max(F_i, floor) weights, preallocated buffers (the fastest eager form)
        t1, t2, f2 = torch.randn(big), torch.randn(big), torch.rand(big)
        f1 = scores
        d1, d2, num, out = torch.empty(big), torch.empty(big), torch.empty(big), torch.empty(big)

        def merge():
            torch.clamp(f1, min=1e-6, out=d1)
            torch.clamp(f2, min=1e-6, out=d2)
            torch.mul(d1, t1, out=num)
            num.addcmul_(d2, t2)
            d1.add_(d2)
            return torch.div(num, d1, out=out)

        self.record("merge_2x100M", "in place into preallocated buffers: clamp, mul, addcmul_, add_, div", merge,
                    rounds=3)
        del scores, scores_np, t1, t2, f1, f2, d1, d2, num, out

    # ---- blockwise 8-bit quantization of 16M floats, block 4096 (absmax per block, as bitsandbytes)
    def quantize(self):
        torch = self.torch
        n, block = 16 << 20, 4096
        x = torch.randn(n).view(-1, block)
        scale = torch.empty(n // block, 1)
        q = torch.empty(n, dtype=torch.int8).view(-1, block)
        y = torch.empty(n).view(-1, block)

        def quantize():
            torch.amax(x.abs(), dim=1, keepdim=True, out=scale).div_(127)
            return q.copy_(torch.round(x / scale))

        quantize()
        self.record("quantize_16M", "amax(|x|)/127 per block, round(x / scale) into int8", quantize)
        self.record("dequantize_16M", "torch.mul(q, scale, out=y)", lambda: torch.mul(q, scale, out=y))
        del x, q, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: cores)")
    parser.add_argument("--have", default="", help="comma-separated JMH benchmark classes on the Tessera side")
    parser.add_argument("--only", default="", help="comma-separated groups to run (default: all that apply)")
    args = parser.parse_args()

    meta = {"python": sys.version.split()[0], "executable": sys.executable, "threads": args.threads,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
            "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY"), "machine": platform.machine()}
    doc = {"meta": meta, "results": {}, "errors": {}}
    try:
        import numpy as np
        import torch
    except Exception as e:  # report.py prints this reason in the PyTorch column
        doc["error"] = f"cannot import torch/numpy with {sys.executable}: {type(e).__name__}: {e}"
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
        print(doc["error"], file=sys.stderr)
        return 0

    torch.set_num_threads(args.threads)
    meta.update({"torch": torch.__version__, "numpy": np.__version__, "torch_threads": torch.get_num_threads()})
    try:
        meta["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:
        pass
    print(f"peer: torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={meta['OMP_WAIT_POLICY']} ATEN_CPU_CAPABILITY={meta['ATEN_CPU_CAPABILITY']}", flush=True)

    have = set(filter(None, args.have.split(",")))
    peer = Peer(torch, np, have)
    groups = [("call_overhead", None), ("bandwidth", None), ("adamw", None), ("matmul", None), ("linear", None),
              ("int8_linear", None),
              ("decoder", None), ("model_decode", ("ModelDecodeBenchmark", "BatchedDecodeBenchmark", "ModelPrefillBenchmark",
                                "PaddedPrefillBenchmark")),
              ("model_decode_tinyllama", ("ModelDecodeBenchmark", "BatchedDecodeBenchmark", "ModelPrefillBenchmark")),
              ("masked_adamw", "MaskedAdamWBenchmark"),
              ("masked_backward", "MaskedBackwardBenchmark"), ("fisher", "FisherBenchmark"),
              ("quantize", "QuantizeBenchmark")]
    only = set(filter(None, args.only.split(",")))
    for name, needs in groups:
        if only and name not in only:
            continue
        needs = (needs,) if isinstance(needs, str) else needs or ()
        if needs and have and not have.intersection(needs):
            print(f"  ({name}: skipped, Tessera has no {' or '.join(needs)})", flush=True)
            continue
        getattr(peer, name)()
        doc["results"], doc["errors"] = peer.results, peer.errors
        with open(args.out, "w") as f:  # after every group, so a crash later keeps what was measured
            json.dump(doc, f, indent=1)
    doc["results"], doc["errors"] = peer.results, peer.errors
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
