"""Float64 reference for Tessera's GPT-2 and LLaMA-family models, written from the architecture definitions
(no `transformers`). Reads a Hugging Face model directory and prompt ids; writes, as safetensors, the greedy
continuation (`generated`, I64), the whole sequence (`ids`, I64) and the logits of every position of it
(`logits`, F64 [positions, vocab]), each greedy step recomputing the full forward.

usage: hf_reference.py MODEL_DIR --ids 1,2,3 --new-tokens N --out FILE
"""
import argparse
import json
import math
import os

import torch

import safetensors_io

IGNORED = ("attn.bias", "attn.masked_bias", "rotary_emb.inv_freq")


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for file in files:
        for name, t in safetensors_io.read(os.path.join(model_dir, file)).items():
            if any(name == s or name.endswith("." + s) for s in IGNORED):
                continue
            for prefix in ("transformer.", "model."):
                if name.startswith(prefix):
                    name = name[len(prefix):]
            weights[name] = t.to(torch.float64)
    return weights


def attention(q, k, v):
    """q [heads, t, hd], k, v [heads, t, hd]: causal softmax attention."""
    t, hd = q.shape[1], q.shape[2]
    scores = q @ k.transpose(1, 2) / math.sqrt(hd)
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu_tanh(u):
    return 0.5 * u * (1 + torch.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))


# transformers' ACT2FN entries GPT-2 configs use, written out from their definitions
GPT2_ACTIVATIONS = {
    "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "gelu_fast": gelu_tanh,
    "gelu": lambda u: 0.5 * u * (1 + torch.erf(u / math.sqrt(2))),
    "relu": lambda u: u.clamp(min=0),
    "silu": lambda u: u / (1 + torch.exp(-u)), "swish": lambda u: u / (1 + torch.exp(-u)),
}


def gpt2(cfg, w, ids):
    t = len(ids)
    heads, d = cfg["n_head"], cfg["n_embd"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    x = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(t)]
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = (z.reshape(t, heads, d // heads).transpose(0, 1) for z in qkv.split(d, dim=-1))
        a = attention(q, k, v).transpose(0, 1).reshape(t, d)
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        u = h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]
        u = GPT2_ACTIVATIONS[cfg.get("activation_function", "gelu_new")](u)
        x = x + u @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps)
    return x @ w["wte.weight"].T


def rope_frequencies(cfg, head_dim):
    inv_freq = [1.0 / cfg.get("rope_theta", 10000.0) ** (2 * i / head_dim) for i in range(head_dim // 2)]
    s = cfg.get("rope_scaling")
    if not s or s.get("rope_type", s.get("type")) == "default":
        return torch.tensor(inv_freq, dtype=torch.float64)
    assert s.get("rope_type", s.get("type")) == "llama3"
    old = s["original_max_position_embeddings"]
    low, high, factor = s["low_freq_factor"], s["high_freq_factor"], s["factor"]
    out = []
    for f in inv_freq:
        wavelen = 2 * math.pi / f
        if wavelen < old / high:  # high frequency: kept
            out.append(f)
        elif wavelen > old / low:  # low frequency: scaled down
            out.append(f / factor)
        else:  # in between: interpolated
            smooth = (old / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return torch.tensor(out, dtype=torch.float64)


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def llama(cfg, w, ids):
    t = len(ids)
    d, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads", heads)
    hd = cfg.get("head_dim", d // heads)
    eps = cfg.get("rms_norm_eps", 1e-6)
    angles = torch.arange(t, dtype=torch.float64)[:, None] * rope_frequencies(cfg, hd)[None, :]
    cos, sin = torch.cos(torch.cat((angles, angles), -1)), torch.sin(torch.cat((angles, angles), -1))

    def proj(x, name):
        y = x @ w[name + ".weight"].T  # Linear: [out, in]
        return y + w[name + ".bias"] if name + ".bias" in w else y

    x = w["embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = proj(h, p + "self_attn.q_proj").reshape(t, heads, hd).transpose(0, 1)
        k = proj(h, p + "self_attn.k_proj").reshape(t, kv_heads, hd).transpose(0, 1)
        v = proj(h, p + "self_attn.v_proj").reshape(t, kv_heads, hd).transpose(0, 1)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        group = heads // kv_heads  # query head j reads key/value head j // group
        k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
        a = attention(q, k, v).transpose(0, 1).reshape(t, heads * hd)
        x = x + proj(a, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = proj(h, p + "mlp.gate_proj")
        x = x + proj(gate * torch.sigmoid(gate) * proj(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, w["norm.weight"], eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w and not cfg.get("tie_word_embeddings", False) else w["embed_tokens.weight"]
    return x @ head.T


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--ids", required=True)
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = load_weights(args.model_dir)
    forward = gpt2 if cfg["model_type"] == "gpt2" else llama
    ids = [int(s) for s in args.ids.split(",")]
    prompt = len(ids)
    for _ in range(args.new_tokens):
        ids.append(int(torch.argmax(forward(cfg, weights, torch.tensor(ids))[-1])))
    logits = forward(cfg, weights, torch.tensor(ids))
    safetensors_io.write(args.out, {"logits": logits, "ids": torch.tensor(ids, dtype=torch.int64),
                                    "generated": torch.tensor(ids[prompt:], dtype=torch.int64)})


if __name__ == "__main__":
    main()
