#!/usr/bin/env bash
# Sequence-parallel training of the bundled model, in one command: generate
# the Llama-style model (grouped-query attention, rotary embeddings, SwiGLU),
# compile it into a training step (causal-LM loss, backward pass, AdamW) whose
# sequence is split across ranks (--sp), and train it under mpirun on text, a
# byte per token. Prints each rank's memory against one rank's (from
# sp-compile --report) and the loss as it falls; writes the loss curve and a
# timeline of the last step on every rank as PNGs under build/demo/.
#
# SP_DEMO_RANKS (4), SP_DEMO_SEQUENCE (1024), SP_DEMO_BATCH (1) and
# SP_DEMO_STEPS (150) change the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/utils/setup.sh"
"$root/utils/build.sh"

# Paths relative to the checkout keep the output short.
cd "$root"
out=build/demo
mkdir -p "$out"
bin=build/bin
model="$out/llama-demo.onnx"
plan="$out/llama-demo.spplan"
data="$out/text.u16"
ranks=${SP_DEMO_RANKS:-4}
sequence=${SP_DEMO_SEQUENCE:-1024}
batch=${SP_DEMO_BATCH:-1}
steps=${SP_DEMO_STEPS:-150}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "sp demo: train a Llama-style model with its sequence split across $ranks ranks"
python3 models/llama.py -o "$model" --layers 4 --hidden 128 --heads 8 --kv-heads 2 \
  --ffn 344 --vocab 256 --max-positions "$((sequence > 512 ? sequence : 512))" --seed 0 >/dev/null
echo "model:    $model (4 layers, hidden 128, 8 heads / 2 KV heads, vocab 256)"

# Training data: English text, one token per byte (vocab 256) -- Debian's
# license texts, present on every Debian system, else this project's docs.
# Lowercased: their all-capitals disclaimers would otherwise spike the loss.
python3 - "$data" <<'PY'
import glob, os, sys
import numpy as np
files = sorted(f for f in glob.glob("/usr/share/common-licenses/*") if os.path.isfile(f))
text = b"".join(open(f, "rb").read() for f in files)
if len(text) < 65536:
    docs = sorted(glob.glob("**/*.md", recursive=True))
    text += b"".join(open(f, "rb").read() for f in docs if not f.startswith("build/"))
np.frombuffer(text.lower(), dtype=np.uint8).astype("<u2").tofile(sys.argv[1])
source = "Debian's license texts, lowercased" if files else "sp's documentation, lowercased"
print(f"data:     {sys.argv[1]} ({source}, {len(text):,} bytes as uint16 tokens)")
PY

compile=("$bin/sp-compile" "$model" --train --input-shape "input_ids=${batch}x${sequence}"
  --optimizer=adamw --lr=3e-3)
"${compile[@]}" --report -o "$out/llama-demo-1rank.spplan" >"$out/report-1rank.txt"
"${compile[@]}" --sp "$ranks" --report -o "$plan" >"$out/report-sp$ranks.txt"
strategy=$(sed -n 's/.*) by \([a-z]*\):.*/\1/p' "$out/report-sp$ranks.txt" | head -n1)
echo "plan:     $plan (batch $batch x sequence $sequence, AdamW lr 3e-3; --sp $ranks:" \
  "$((sequence / ranks)) tokens of each sequence per rank${strategy:+, attention by $strategy})"

python3 - "$out/report-1rank.txt" "$out/report-sp$ranks.txt" "$ranks" <<'PY'
import re, sys
def memory(path):
    rows = {}
    for line in open(path):
        match = re.match(r"\s+([a-z][a-z ]*?)\s+(\d+)\s", line)
        if match and match.group(1) not in rows:
            rows[match.group(1)] = int(match.group(2))
        if line.startswith("collectives"):
            break
    return rows
one, split, ranks = memory(sys.argv[1]), memory(sys.argv[2]), sys.argv[3]
print(f"memory per rank (sp-compile --report):  {'1 rank':>10}  {ranks + ' ranks':>10}")
for name in ("parameters", "gradients", "optimizer state", "peak activations", "total"):
    if name in one and name in split:
        ratio = f"  {split[name] / one[name]:.2f}x" if one[name] else ""
        print(f"  {name:<37}{one[name] / 2**20:>7.2f} MiB{split[name] / 2**20:>7.2f} MiB{ratio}")
PY

log="$out/train.log"
echo "training: $steps steps, mpirun --oversubscribe -np $ranks sp-run (loss every 20 steps)"
mpirun --oversubscribe -np "$ranks" "$bin/sp-run" "$plan" --data "$data" --steps "$steps" \
  --seed 0 --trace "$out/trace.json" >"$log"
awk '/^step / { n++; if (n % 20 == 0 || n == 1) print "  " $0 } /^(done|overlap)/ { print "  " $0 }' "$log"

python3 - "$log" "$out/loss.png" "$data" "$ranks" "$sequence" <<'PY'
import math, re, sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

steps, losses = [], []
for line in open(sys.argv[1]):
    match = re.match(r"step (\d+)/\d+\s+loss ([-\d.eE+]+)", line)
    if match:
        steps.append(int(match.group(1)))
        losses.append(float(match.group(2)))
# A model that ignores context can at best predict each byte by its frequency:
# below that entropy the loss comes from attending to earlier tokens.
counts = np.bincount(np.fromfile(sys.argv[3], dtype="<u2"), minlength=256)
p = counts[counts > 0] / counts.sum()
unigram = float(-(p * np.log(p)).sum())
plt.figure(figsize=(7, 4))
plt.plot(steps, losses, label="training loss")
plt.axhline(math.log(256), color="gray", linestyle=":", label="uniform guess, log 256")
plt.axhline(unigram, color="gray", linestyle="--", label="byte frequencies alone (no context)")
plt.xlabel("step")
plt.ylabel("mean next-token cross-entropy")
plt.title(f"sp: Llama-style model, sequence {sys.argv[5]} split across {sys.argv[4]} ranks (CPU)")
plt.legend()
plt.tight_layout()
plt.savefig(sys.argv[2], dpi=120)
k = max(1, min(10, len(losses) // 4))
start, end = sum(losses[:k]) / k, sum(losses[-k:]) / k
print(f"loss:     {start:.3f} over the first {k} steps -> {end:.3f} over the last {k} "
      f"(best without context: {unigram:.3f})")
print(f"loss curve: {sys.argv[2]}")
PY
python3 utils/trace_timeline.py "$out/trace.json" -o "$out/timeline.png" | sed 's/^timeline: /timeline:   /'
