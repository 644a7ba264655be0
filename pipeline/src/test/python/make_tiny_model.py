"""Writes a tiny Hugging Face model directory with seeded random float weights, for Tessera's reference tests.

usage: make_tiny_model.py {gpt2,llama,qwen2} OUT_DIR [--seed S] [--shards N] [--buffers] [--no-prefix] [--dtype F32|BF16|F16]
  gpt2:  2 layers, d 32, 4 heads, vocab 96, n_positions 64, tied head
  llama: 2 layers, d 32, 4 heads, 2 KV heads, FFN 64, vocab 96, llama3 rope_scaling, untied head
  qwen2: as llama with q/k/v biases and a tied head
--buffers adds the non-parameter buffers old checkpoints carry (GPT-2 attn.bias / attn.masked_bias, LLaMA
rotary_emb.inv_freq); --no-prefix drops the transformer. / model. prefix.
"""
import argparse
import json
import os

import torch

import safetensors_io

VOCAB, D, LAYERS, HEADS, POSITIONS = 96, 32, 2, 4, 64



# the configs' norm eps (1e-2) is far from the defaults (1e-5, 1e-6), so a model that ignores it fails the reference test
def gpt2_config(activation, inner):
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": VOCAB, "n_embd": D, "n_layer": LAYERS,
           "n_head": HEADS, "n_positions": POSITIONS, "layer_norm_epsilon": 1e-2, "activation_function": activation,
           "tie_word_embeddings": True}
    if inner is not None:
        cfg["n_inner"] = inner
    return cfg


def llama_config(kind, rope_scaling=True):
    cfg = {"model_type": kind, "architectures": ["LlamaForCausalLM" if kind == "llama" else "Qwen2ForCausalLM"],
           "vocab_size": VOCAB, "hidden_size": D, "intermediate_size": 64, "num_hidden_layers": LAYERS,
           "num_attention_heads": HEADS, "num_key_value_heads": 2, "max_position_embeddings": POSITIONS, "rms_norm_eps": 1e-2,
           "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": kind == "qwen2"}
    if kind == "llama" and rope_scaling:
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 16}
    return cfg


def gpt2_weights(g, cfg, buffers):
    def n(*shape, std):
        return torch.randn(*shape, generator=g) * std

    inner = cfg.get("n_inner") or 4 * D
    w = {"wte.weight": n(VOCAB, D, std=0.5), "wpe.weight": n(POSITIONS, D, std=0.3)}
    for i in range(LAYERS):
        p = f"h.{i}."
        for ln in ("ln_1", "ln_2"):
            w[p + ln + ".weight"] = 1 + n(D, std=0.1)
            w[p + ln + ".bias"] = n(D, std=0.05)
        for name, (fan_in, fan_out) in {"attn.c_attn": (D, 3 * D), "attn.c_proj": (D, D), "mlp.c_fc": (D, inner),
                                         "mlp.c_proj": (inner, D)}.items():
            w[p + name + ".weight"] = n(fan_in, fan_out, std=fan_in ** -0.5)  # Conv1D: [in, out]
            w[p + name + ".bias"] = n(fan_out, std=0.05)
        if buffers:
            w[p + "attn.bias"] = torch.tril(torch.ones(POSITIONS, POSITIONS)).reshape(1, 1, POSITIONS, POSITIONS)
            w[p + "attn.masked_bias"] = torch.tensor(-1e4)
    w["ln_f.weight"] = 1 + n(D, std=0.1)
    w["ln_f.bias"] = n(D, std=0.05)
    return w


def llama_weights(g, cfg, buffers):
    def n(*shape, std):
        return torch.randn(*shape, generator=g) * std

    hd = D // HEADS
    kv = cfg["num_key_value_heads"] * hd
    ffn = cfg["intermediate_size"]
    w = {"embed_tokens.weight": n(VOCAB, D, std=0.5)}
    for i in range(LAYERS):
        p = f"layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + n(D, std=0.1)
        w[p + "post_attention_layernorm.weight"] = 1 + n(D, std=0.1)
        for name, (fan_out, fan_in) in {"self_attn.q_proj": (D, D), "self_attn.k_proj": (kv, D), "self_attn.v_proj": (kv, D),
                                         "self_attn.o_proj": (D, D), "mlp.gate_proj": (ffn, D), "mlp.up_proj": (ffn, D),
                                         "mlp.down_proj": (D, ffn)}.items():
            w[p + name + ".weight"] = n(fan_out, fan_in, std=fan_in ** -0.5)  # Linear: [out, in]
            if cfg["model_type"] == "qwen2" and name[-6:] in ("q_proj", "k_proj", "v_proj"):
                w[p + name + ".bias"] = n(fan_out, std=0.1)
        if buffers:
            w[p + "self_attn.rotary_emb.inv_freq"] = 1.0 / 10000.0 ** (torch.arange(0, hd, 2).float() / hd)
    w["norm.weight"] = 1 + n(D, std=0.1)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = n(VOCAB, D, std=0.5)
    return w


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["gpt2", "llama", "qwen2"])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--buffers", action="store_true")
    parser.add_argument("--no-prefix", action="store_true")
    parser.add_argument("--dtype", choices=["F32", "BF16", "F16"], default="F32")
    parser.add_argument("--activation", default="gelu_new", help="GPT-2's activation_function")
    parser.add_argument("--no-rope-scaling", action="store_true", help="LLaMA without its llama3 rope_scaling")
    parser.add_argument("--n-inner", type=int, help="GPT-2's n_inner (absent from the config when not given: 4 * n_embd)")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(args.seed)
    cfg = gpt2_config(args.activation, args.n_inner) if args.kind == "gpt2" else llama_config(args.kind, not args.no_rope_scaling)
    w = gpt2_weights(g, cfg, args.buffers) if args.kind == "gpt2" else llama_weights(g, cfg, args.buffers)
    prefix = "" if args.no_prefix else ("transformer." if args.kind == "gpt2" else "model.")
    dtype = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[args.dtype]
    w = {(k if k == "lm_head.weight" else prefix + k): v.to(dtype) for k, v in w.items()}
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    names = list(w)
    if args.shards == 1:
        safetensors_io.write(os.path.join(args.out_dir, "model.safetensors"), w, {"format": "pt"})
        return
    weight_map = {}
    per = -(-len(names) // args.shards)
    for s in range(args.shards):
        file = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
        part = {k: w[k] for k in names[s * per:(s + 1) * per]}
        safetensors_io.write(os.path.join(args.out_dir, file), part, {"format": "pt"})
        weight_map.update({k: file for k in part})
    total = sum(t.numel() * t.element_size() for t in w.values())
    with open(os.path.join(args.out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)


if __name__ == "__main__":
    main()
