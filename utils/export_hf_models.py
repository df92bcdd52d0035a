#!/usr/bin/env python3
"""Export small Hugging Face causal LMs to ONNX the way users do, for import tests.

Builds GPT-2, Llama, Qwen2, GPT-NeoX, Falcon (multi-query attention: one
key/value head), BLOOM (ALiBi) and Mistral (a sliding window of 8) from tiny configs with random weights (no
hub access), and exports each with torch.onnx:

  <family>-<attn>-<exporter>-static     batch 2, sequence 16
  <family>-<attn>-<exporter>-dynamic    batch and sequence symbolic
  <family>-sdpa-<exporter>-external     static, every initializer in a side file

`attn` is the attention implementation (eager, sdpa; BLOOM has only eager),
`exporter` is dynamo (opset 18) or torchscript (opset 17). Inputs are
`input_ids` and `attention_mask` (int64, [batch, sequence]); the one output
is `logits`.

Prints one line per file written: `WROTE <name> <path> <inputs> <ops>`.
Exit status 2 when torch or transformers cannot be imported.
"""

import argparse
import contextlib
import io
import logging
import os
import sys
import time
import warnings

FAMILIES = ("gpt2", "llama", "qwen2", "gptneox", "falcon", "bloom", "mistral", "gemma2")
# More decoder families, exported on request (--families) and checked by the
# hf_train_more test: partial rotary (Phi, StableLM), learned positions
# (OPT), parallel blocks (GPT-J, Phi), per-head q/k norms (Qwen3), a sliding
# window (Starcoder2), one KV head (Gemma), non-parametric norms (OLMo).
# No padding token: an embedding's padding_idx (no gradient for that row in
# PyTorch) does not survive export, since ONNX's Gather has none.
MORE_FAMILIES = ("phi", "phi3", "stablelm", "opt", "gptj", "gemma", "olmo", "starcoder2", "qwen3")
ATTENTIONS = ("eager", "sdpa")
# Families whose Hugging Face model has no SDPA implementation.
EAGER_ONLY = ("bloom", "gemma2")
BATCH, SEQ = 2, 16
VOCAB = 256


def make_config(family, attn, layers=None, max_positions=None):
    """The tiny config of `family`; `layers` overrides its 2 layers and
    `max_positions` its 128 positions (GPT-2's learned table)."""
    config = _tiny_config(family, attn)
    if layers is not None:
        config.num_hidden_layers = layers
        # Qwen2 and others list each layer's attention kind.
        if getattr(config, "layer_types", None):
            config.layer_types = [config.layer_types[0]] * layers
    if max_positions is not None and hasattr(config, "n_positions"):
        config.n_positions = max_positions
    elif max_positions is not None and hasattr(config, "max_position_embeddings"):
        config.max_position_embeddings = max_positions
    return config


def _tiny_config(family, attn):
    import transformers as tf

    common = dict(vocab_size=VOCAB, use_cache=False, attn_implementation=attn)
    if family == "gpt2":
        return tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=128,
                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                             bos_token_id=0, eos_token_id=0,
                             **common)
    if family == "llama":
        return tf.LlamaConfig(hidden_size=64, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=128, max_position_embeddings=128,
                              **common)
    if family == "qwen2":
        return tf.Qwen2Config(hidden_size=64, num_hidden_layers=2,
                              num_attention_heads=8, num_key_value_heads=2,
                              intermediate_size=128, max_position_embeddings=128,
                              **common)
    if family == "gptneox":
        return tf.GPTNeoXConfig(hidden_size=64, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=128,
                                max_position_embeddings=128, rotary_pct=0.25,
                                hidden_dropout=0.0, attention_dropout=0.0,
                                **common)
    if family == "falcon":
        # Falcon-7B's layout: multi-query attention (one key/value head
        # shared by every query head), rotary positions, parallel attention.
        return tf.FalconConfig(hidden_size=64, num_hidden_layers=2,
                               num_attention_heads=4, multi_query=True,
                               new_decoder_architecture=False, alibi=False,
                               max_position_embeddings=128, hidden_dropout=0.0,
                               attention_dropout=0.0, bos_token_id=0,
                               eos_token_id=0, **common)
    if family == "bloom":
        # ALiBi: a per-head linear bias on the scores, no position embedding.
        return tf.BloomConfig(hidden_size=64, n_layer=2, n_head=4,
                              hidden_dropout=0.0, attention_dropout=0.0,
                              bos_token_id=0, eos_token_id=0, **common)
    if family == "mistral":
        # A sliding window of 8 positions: shorter than the tests' sequences.
        return tf.MistralConfig(hidden_size=64, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2,
                                intermediate_size=128, max_position_embeddings=128,
                                sliding_window=8, **common)
    if family == "phi":
        return tf.PhiConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=128, max_position_embeddings=128, **common)
    if family == "phi3":
        return tf.Phi3Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=128,
                             max_position_embeddings=128, pad_token_id=None, **common)
    if family == "stablelm":
        return tf.StableLmConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, intermediate_size=128,
                                 max_position_embeddings=128, **common)
    if family == "opt":
        return tf.OPTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            ffn_dim=128, max_position_embeddings=128, word_embed_proj_dim=64,
                            dropout=0.0, attention_dropout=0.0, pad_token_id=None, **common)
    if family == "gptj":
        return tf.GPTJConfig(n_embd=64, n_layer=2, n_head=4, rotary_dim=8, n_positions=128,
                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **common)
    if family == "gemma":
        return tf.GemmaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=1, head_dim=16, intermediate_size=128,
                              max_position_embeddings=128, **common)
    if family == "olmo":
        return tf.OlmoConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=128, max_position_embeddings=128,
                             pad_token_id=None, **common)
    if family == "starcoder2":
        return tf.Starcoder2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, intermediate_size=128,
                                   max_position_embeddings=128, sliding_window=8, **common)
    if family == "qwen3":
        return tf.Qwen3Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, head_dim=16, intermediate_size=128,
                              max_position_embeddings=128, **common)
    if family == "gemma2":
        # Logit soft-capping (tanh) of the attention scores and of the final
        # logits, sliding-window (8) and global layers alternating, a query
        # scale of its own. Its soft-cap has no SDPA form: eager only.
        return tf.Gemma2Config(hidden_size=64, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                               intermediate_size=128, max_position_embeddings=128,
                               sliding_window=8, attn_logit_softcapping=50.0,
                               final_logit_softcapping=30.0, query_pre_attn_scalar=16,
                               **common)
    raise ValueError(f"unknown family '{family}'")


def make_model(family, attn, layers=None, max_positions=None):
    import torch
    import transformers as tf

    config = make_config(family, attn, layers, max_positions)
    cls = {"gpt2": tf.GPT2LMHeadModel, "llama": tf.LlamaForCausalLM,
           "qwen2": tf.Qwen2ForCausalLM, "gptneox": tf.GPTNeoXForCausalLM,
           "falcon": tf.FalconForCausalLM, "bloom": tf.BloomForCausalLM,
           "mistral": tf.MistralForCausalLM, "gemma2": tf.Gemma2ForCausalLM,
           "phi": tf.PhiForCausalLM, "phi3": tf.Phi3ForCausalLM,
           "stablelm": tf.StableLmForCausalLM, "opt": tf.OPTForCausalLM,
           "gptj": tf.GPTJForCausalLM, "gemma": tf.GemmaForCausalLM, "olmo": tf.OlmoForCausalLM,
           "starcoder2": tf.Starcoder2ForCausalLM, "qwen3": tf.Qwen3ForCausalLM}[family]
    torch.manual_seed(0)
    model = cls(config).eval()

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              use_cache=False).logits

    return LogitsOnly(model).eval()


def make_inputs():
    import torch

    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator)
    attention_mask = torch.ones(BATCH, SEQ, dtype=torch.int64)
    return input_ids, attention_mask


def externalize(path):
    """Moves every initializer of `path` into `<file>.data` beside it."""
    import onnx

    model = onnx.load(path)
    data = os.path.basename(path) + ".data"
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")
    onnx.save_model(model, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location=data, size_threshold=0)


def count_external(path):
    import onnx

    model = onnx.load(path, load_external_data=False)
    return sum(1 for t in model.graph.initializer
               if t.data_location == onnx.TensorProto.EXTERNAL)


def export_one(model, path, exporter, dynamic, external, inputs=None,
               fold_constants=True, training=False):
    """Exports `model` to `path`. `fold_constants=False` keeps both exporters
    from folding weight transposes into new, renamed initializers, so that
    every parameter stays an initializer of its own name (training needs it).
    `training` exports train()-mode behaviour: dropout as training-mode
    Dropout nodes (the model must be in train() mode)."""
    import torch

    if inputs is None:
        inputs = make_inputs()
    names = ["input_ids", "attention_mask"]
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dynamic_shapes = None
            if dynamic:
                batch = torch.export.Dim("batch", min=1, max=64)
                seq = torch.export.Dim("sequence", min=2, max=128)
                dynamic_shapes = {"input_ids": {0: batch, 1: seq},
                                  "attention_mask": {0: batch, 1: seq}}
            torch.onnx.export(model, inputs, path, dynamo=True, opset_version=18,
                              input_names=names, output_names=["logits"],
                              dynamic_shapes=dynamic_shapes,
                              external_data=external, optimize=fold_constants,
                              verbose=False)
        else:
            dynamic_axes = None
            if dynamic:
                axes = {0: "batch", 1: "sequence"}
                dynamic_axes = {"input_ids": axes, "attention_mask": axes,
                                "logits": axes}
            mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
            torch.onnx.export(model, inputs, path, dynamo=False, opset_version=17,
                              input_names=names, output_names=["logits"],
                              dynamic_axes=dynamic_axes, do_constant_folding=fold_constants,
                              training=mode)
    if external and count_external(path) == 0:
        # Small models stay below the exporters' size threshold: force it.
        externalize(path)


def op_types(path):
    import onnx

    model = onnx.load(path, load_external_data=False)
    ops = set()

    def visit(graph):
        for node in graph.node:
            ops.add(node.op_type if node.domain in ("", "ai.onnx")
                    else f"{node.domain}.{node.op_type}")
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(model.graph)
    for function in model.functions:
        for node in function.node:
            ops.add(node.op_type)
    inputs = [i.name for i in model.graph.input
              if i.name not in {t.name for t in model.graph.initializer}]
    return sorted(ops), inputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="comma-separated subset of " + ",".join(FAMILIES + MORE_FAMILIES))
    parser.add_argument("--exporter", default="both",
                        choices=["dynamo", "torchscript", "both"])
    parser.add_argument("--attn", default=",".join(ATTENTIONS),
                        help="comma-separated subset of " + ",".join(ATTENTIONS))
    parser.add_argument("--list-ops", action="store_true",
                        help="also print the ONNX op types of each export")
    args = parser.parse_args()

    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        print(f"SKIP: torch not installed ({error})")
        return 2

    families = [f for f in args.families.split(",") if f]
    for family in families:
        if family not in FAMILIES + MORE_FAMILIES:
            parser.error(f"unknown family '{family}' (known: "
                         f"{', '.join(FAMILIES + MORE_FAMILIES)})")
    attentions = [a for a in args.attn.split(",") if a]
    for attn in attentions:
        if attn not in ATTENTIONS:
            parser.error(f"unknown attention '{attn}' (known: {', '.join(ATTENTIONS)})")
    # The exporter logs a warning per missing optional op library (torchvision).
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    exporters = ["dynamo", "torchscript"] if args.exporter == "both" else [args.exporter]
    os.makedirs(args.outdir, exist_ok=True)

    failures = 0
    for family in families:
        family_attentions = [a for a in attentions
                             if a == "eager" or family not in EAGER_ONLY]
        for attn in family_attentions:
            model = make_model(family, attn)
            for exporter in exporters:
                variants = [("static", False, False), ("dynamic", True, False)]
                if attn == family_attentions[-1]:
                    variants.append(("external", False, True))
                for variant, dynamic, external in variants:
                    name = f"{family}-{attn}-{exporter}-{variant}"
                    folder = os.path.join(args.outdir, name) if external else args.outdir
                    os.makedirs(folder, exist_ok=True)
                    path = os.path.join(folder, name + ".onnx")
                    start = time.time()
                    try:
                        export_one(model, path, exporter, dynamic, external)
                    except Exception as error:  # report and go on with the rest
                        first = str(error).strip().splitlines()
                        print(f"EXPORT-FAILED {name}: {type(error).__name__}: "
                              f"{first[0] if first else ''}", flush=True)
                        failures += 1
                        continue
                    ops, inputs = op_types(path)
                    line = (f"WROTE {name} {path} inputs={','.join(inputs)} "
                            f"({time.time() - start:.1f}s)")
                    if args.list_ops:
                        line += " ops=" + ",".join(ops)
                    print(line, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
