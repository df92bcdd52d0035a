#!/usr/bin/env python3
"""Activation memory is linear in the sequence and splits across the ranks.

Usage: memory_scaling_test.py TOOLS_DIR [--families F,...] [--keep DIR]

Hugging Face models (utils/export_hf_models.py, 8 layers, random weights)
exported by both torch.onnx exporters with a symbolic sequence and an
attention_mask input are compiled with `sp-compile --train --report` (no run)
at sequences of S and 2S. The padding mask they build is a [B, 1, S, S]
tensor in the export; sp-fuse must keep it as a [B, 1, 1, S] bias and a band
the kernels compute, so that one rank's peak activations at 2S are at most
twice those at S (a quadratic tensor makes them grow by more), and the
fused attention ops have no bias with an [S, S] matrix (and `--report` lists
their band). At 2S, `--sp 4`
with each strategy must hold at most 1/4 + 10% of one rank's peak per rank.

BLOOM adds its ALiBi bias ([B, H, 1, S]) to the mask: it joins the padding
rows, since its magnitude is bounded far below what the fill absorbs.

Prints a line per model with the peaks; exits 1 on any failure, 77 (ctest's
skip) when torch or transformers cannot be imported.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "utils"))
sys.path.insert(0, HERE)

from hf_train_test import first_line, onnx_parameter_names  # noqa: E402
from sp_equivalence_test import report_bytes  # noqa: E402

SKIP = 77
FAMILIES = ("gpt2", "llama", "qwen2", "gptneox", "falcon", "bloom", "mistral", "gemma2")
EXPORTERS = ("dynamo", "torchscript")
LAYERS = 8
SEQUENCE = 256
STRATEGIES = ("allgather", "ulysses", "ring")
RANKS = 4
# Per rank at --sp 4: a quarter of one rank's peak, plus 10%.
SHARE = 0.25 * 1.1


def compile_report(tools, model, sequence, flags=(), emit_mlir=False):
    """(peak activation bytes, the module's text when `emit_mlir`). The
    model's parameters are those listed beside it (MODEL.params)."""
    module = model[:-len(".onnx")] + f"-{sequence}.mlir"
    params = model[:-len(".onnx")] + ".params"
    command = [os.path.join(tools, "sp-compile"), model, "--train", "--params", "@" + params,
               f"--input-shape=input_ids=1x{sequence}", "--report", "--emit=mlir", "-o",
               module if emit_mlir else os.devnull] + list(flags)
    ran = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if ran.returncode != 0:
        raise RuntimeError(f"sp-compile {' '.join(flags)} exited {ran.returncode}: "
                           f"{first_line(ran.stderr)}")
    peak = report_bytes(ran.stdout, "peak activations")
    if peak is None:
        raise RuntimeError("--report printed no peak activations")
    if not emit_mlir:
        return peak, ""
    with open(module) as f:
        return peak, f.read(), ran.stdout


def square_biases(module, sequence):
    """The graph.attention ops of `module` whose bias has an [S, S] matrix."""
    found = []
    for line in module.splitlines():
        if "graph.attention " not in line or "->" not in line:
            continue
        operand_types = line.rsplit(":", 1)[1].split("->")[0]
        types = re.findall(r"tensor<([0-9x]+)x[a-z0-9]+>", operand_types)
        if len(types) == 4 and types[3].split("x")[-2:] == [str(sequence)] * 2:
            found.append(line.strip()[:120])
    return found


def check_model(tools, model, name):
    """None when `model` scales as it should, else the reason."""
    short, _ = compile_report(tools, model, SEQUENCE)
    long, module, report = compile_report(tools, model, 2 * SEQUENCE, emit_mlir=True)
    if "of key - query positions" not in report:
        return "--report does not list the attention's band mask"
    square = square_biases(module, 2 * SEQUENCE)
    if square:
        return f"{len(square)} attention(s) keep an [S, S] bias: {square[0]}"
    if "graph.attention " not in module:
        return "no fused attention in the module"
    if not long <= 2 * short:
        return f"one rank's peak activations grow {long / short:.2f}x from S={SEQUENCE} to " \
               f"{2 * SEQUENCE} ({short} to {long} bytes): more than linear"
    shares = []
    for strategy in STRATEGIES:
        split, _ = compile_report(tools, model, 2 * SEQUENCE,
                                  ["--sp", str(RANKS), f"--sp-strategy={strategy}"])
        shares.append(f"{strategy} {split / long:.3f}")
        if not split <= SHARE * long:
            return f"--sp {RANKS} {strategy}: {split} bytes per rank, {split / long:.3f} of one " \
                   f"rank's {long}, above {SHARE:.3f}"
    print(f"PASS {name}: peak {short} -> {long} bytes ({long / short:.2f}x for 2x the "
          f"sequence); per rank at --sp {RANKS}: {', '.join(shares)}", flush=True)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--keep", help="keep the exports in DIR")
    args = parser.parse_args()
    try:
        import onnx
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        print(f"SKIP: torch or transformers not installed ({error})")
        return SKIP
    import logging

    import export_hf_models as hf

    logging.disable(logging.WARNING)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="sp-memory-scaling-") as scratch:
        workdir = args.keep or scratch
        os.makedirs(workdir, exist_ok=True)
        for family in args.families.split(","):
            model = hf.make_model(family, "eager", layers=LAYERS,
                                  max_positions=2 * SEQUENCE)
            for exporter in EXPORTERS:
                name = f"{family}-{exporter}"
                path = os.path.join(workdir, name + ".onnx")
                hf.export_one(model, path, exporter, True, False, fold_constants=False)
                # The model's own parameters: what the exporter lifts into
                # initializers besides them (BLOOM's ALiBi slopes) stays constant.
                initializers = {t.name for t in
                                onnx.load(path, load_external_data=False).graph.initializer}
                params, _ = onnx_parameter_names(model, initializers)
                with open(path[:-len(".onnx")] + ".params", "w") as f:
                    f.write("\n".join(sorted(params)) + "\n")
                try:
                    reason = check_model(args.tools, path, name)
                except RuntimeError as error:
                    reason = str(error)
                if reason:
                    print(f"FAIL {name}: {reason}", flush=True)
                    failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
