#!/usr/bin/env bash
# The main job on the bundled model: generate the Llama-style model (grouped-
# query attention, rotary embeddings, SwiGLU), compile it into a training step
# (causal-LM loss, backward pass, AdamW), and train it on the built-in copy
# task, where the second half of every sequence repeats the first half, so
# the loss can only fall by attending across the sequence. Prints the loss as
# it falls and writes the loss curve as a PNG.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/utils/setup.sh"
"$root/utils/build.sh"

out="$root/build/demo"
mkdir -p "$out"
model="$out/llama-demo.onnx"
plan="$out/llama-demo.spplan"
steps=${SP_DEMO_STEPS:-300}
batch=32
sequence=32
python3 "$root/models/llama.py" -o "$model" --layers 4 --hidden 128 --heads 8 --kv-heads 2 \
  --ffn 344 --vocab 256 --max-positions 512 --seed 0 >/dev/null
echo "model:    $model (Llama-style: 4 layers, hidden 128, 8 heads / 2 KV heads, vocab 256)"

"$root/build/bin/sp-compile" "$model" --train --input-shape "input_ids=${batch}x${sequence}" \
  --optimizer=adamw --lr=3e-3 -o "$plan"
echo "compiled: $plan (training step: batch $batch, sequence $sequence, AdamW lr 3e-3)"
echo "training: $steps steps on synthetic:copy (random first half, copied second half)"

log="$out/train.log"
"$root/build/bin/sp-run" "$plan" --data synthetic:copy --steps "$steps" --seed 0 >"$log"
# Every 20th progress line and the summary.
awk '/^step / { n++; if (n % 20 == 0 || n == 1) print } /^done/ { print }' "$log"

python3 - "$log" "$out/loss.png" "$sequence" <<'PY'
import math, re, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

steps, losses = [], []
for line in open(sys.argv[1]):
    match = re.match(r"step (\d+)/\d+\s+loss ([-\d.eE+]+)", line)
    if match:
        steps.append(int(match.group(1)))
        losses.append(float(match.group(2)))
vocab, sequence = 256, int(sys.argv[3])
# Of the sequence - 1 predicted tokens, those of the first half after the
# first are random, the rest copy an earlier token: the best possible mean
# loss is log(vocab) times the random share.
half = sequence // 2
floor = math.log(vocab) * (half - 1) / (sequence - 1)
plt.figure(figsize=(7, 4))
plt.plot(steps, losses, label="training loss")
plt.axhline(math.log(vocab), color="gray", linestyle=":", label="uniform guess, log 256")
plt.axhline(floor, color="gray", linestyle="--", label="copy task optimum")
plt.xlabel("step")
plt.ylabel("mean next-token cross-entropy")
plt.title("sp: Llama-style model on synthetic:copy (CPU)")
plt.legend()
plt.tight_layout()
plt.savefig(sys.argv[2], dpi=120)
start, end = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
print(f"loss: {start:.3f} over the first 10 steps -> {end:.3f} over the last 10 "
      f"(optimum {floor:.3f})")
print(f"loss curve: {sys.argv[2]}")
PY
