#!/usr/bin/env python3
"""What --sp-strategy=auto predicts for attention at scale, as a Markdown table.

Usage: utils/predict_layouts.py [--tools build/bin] [--profile h100-cluster]
           [--gpus 8,16,...] [--tokens 131072,...] [--heads 32] [--kv-heads 8]
           [--head-dim 128] [--layers 32] [--ranks-per-node R]

For every GPU count N and sequence length S, one causal grouped-query
attention layer of batch 1 in bf16 ([1, heads, S, head-dim]; Llama 3 8B's
shape by default) goes through `sp-opt --sp-sequence-parallel` with the cost
profile, exactly as sp-compile's auto would see it in a model, and the table
gives the layout it chooses and, per layout, the predicted milliseconds one
rank spends per training step in the model's attention (the layer's forward
and backward times --layers; compute plus the communication compute does not
hide), with the bytes of keys and values each rank holds. No tensor is
allocated: the module holds types only.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def module_text(tokens, heads, kv_heads, head_dim):
    query = f"tensor<1x{heads}x{tokens}x{head_dim}xbf16>"
    key = f"tensor<1x{kv_heads}x{tokens}x{head_dim}xbf16>"
    lse = f"tensor<1x{heads}x{tokens}xbf16>"
    names = 'graph.dim_names = ["batch", "", "sequence", ""]'
    return f"""module attributes {{graph.token_input = "input_ids"}} {{
  func.func @main(%ids: tensor<1x{tokens}xi64> {{graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]}},
                  %q: {query} {{{names}}}, %kv: {key} {{{names}}}) -> {query} {{
    %out, %lse = graph.attention %q, %kv, %kv {{scale = {head_dim ** -0.5} : f64, causal = true}} : ({query}, {key}, {key}) -> ({query}, {lse})
    return %out : {query}
  }}
}}
"""


PREDICTION = re.compile(r"^(?P<layout>[a-z][a-z0-9 ]*?) (?P<us>[0-9.]+) us \(.*?\), "
                        r"(?P<sent>[0-9]+) bytes sent, (?P<held>[0-9]+) bytes held$")


def predict(sp_opt, text, ranks, profile, ranks_per_node):
    """(chosen layout, {layout: (microseconds, bytes held) or None if impossible})."""
    options = f"num-ranks={ranks} strategy=auto cost-profile={profile}"
    if ranks_per_node:
        options += f" ranks-per-node={ranks_per_node}"
    result = subprocess.run([sp_opt, "-", f"--sp-sequence-parallel={options}",
                             "--mlir-print-op-on-diagnostic=false", "-o", os.devnull],
                            input=text, capture_output=True, text=True, timeout=600)
    match = re.search(r"remark: strategy auto chose (.*?) for 1 attention; [^:]*: (.*)$",
                      result.stderr, re.M)
    if result.returncode != 0 or not match:
        sys.exit(f"sp-opt failed for {ranks} ranks: {result.stderr.strip()}")
    layouts = {}
    for entry in match.group(2).split("; "):
        if " impossible (" in entry:
            layouts[entry.split(" impossible (")[0]] = None
            continue
        parsed = PREDICTION.match(entry)
        if not parsed:
            sys.exit(f"cannot read the prediction '{entry}'")
        layouts[parsed["layout"]] = (float(parsed["us"]), int(parsed["held"]))
    return match.group(1), layouts


def tokens_label(tokens):
    return f"{tokens // 1048576}M" if tokens % 1048576 == 0 else f"{tokens // 1024}k"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", default=os.path.join(HERE, "..", "build", "bin"))
    parser.add_argument("--profile", default="h100-cluster")
    parser.add_argument("--ranks-per-node", type=int, default=0)
    parser.add_argument("--gpus", default="8,16,32,64,128,256,512,1024")
    parser.add_argument("--tokens", default="131072,262144,524288,1048576")
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=32)
    args = parser.parse_args()
    sp_opt = os.path.join(args.tools, "sp-opt")

    print(f"Cost profile {args.profile}; one causal attention of {args.heads} query heads, "
          f"{args.kv_heads} key/value heads of {args.head_dim}, bf16, batch 1, times "
          f"{args.layers} layers: predicted ms per rank and training step (forward and "
          f"backward), and key/value MiB held per rank and layer.\n")
    print("| GPUs | tokens | auto chooses | ms | MiB held | allgather ms | ulysses ms | "
          "best hybrid (ms) | ring ms |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for tokens in (int(t) for t in args.tokens.split(",")):
        text = module_text(tokens, args.heads, args.kv_heads, args.head_dim)
        for ranks in (int(g) for g in args.gpus.split(",")):
            chosen, layouts = predict(sp_opt, text, ranks, args.profile, args.ranks_per_node)

            def ms(layout):
                value = layouts.get(layout)
                return "—" if value is None else f"{value[0] * args.layers / 1000:.0f}"

            hybrids = {name: value for name, value in layouts.items()
                       if name.startswith("hybrid") and value}
            best = min(hybrids, key=lambda name: hybrids[name][0], default=None)
            hybrid = (f"{best.removeprefix('hybrid ')}: {ms(best)}" if best else "—")
            chosen_time, chosen_held = layouts[chosen]
            print(f"| {ranks} | {tokens_label(tokens)} | {chosen} | "
                  f"{chosen_time * args.layers / 1000:.0f} | {chosen_held / 2**20:.0f} | "
                  f"{ms('allgather')} | {ms('ulysses')} | {hybrid} | {ms('ring')} |")


if __name__ == "__main__":
    main()
