#!/usr/bin/env bash
# The main job, as far as sp goes today: generate the bundled Llama-style model
# (grouped-query attention, rotary embeddings, SwiGLU), compile it with the
# sequence bound, and summarize the graph the compiler holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/utils/setup.sh"
"$root/utils/build.sh"

out="$root/build/demo"
mkdir -p "$out"
model="$out/llama-demo.onnx"
python3 "$root/models/llama.py" -o "$model" --layers 4 --hidden 128 --heads 8 --kv-heads 2 \
  --ffn 344 --vocab 512 --max-positions 512 --seed 0 >/dev/null
echo "model: $model (Llama-style, 4 layers, hidden 128, 8 heads / 2 KV heads, vocab 512)"

"$root/build/bin/sp-compile" "$model" --emit=mlir --input-shape input_ids=1x256 -o "$out/llama-demo.mlir"
echo "compiled: $out/llama-demo.mlir (sequence bound to 256)"
"$root/build/bin/sp-opt" "$out/llama-demo.mlir" >/dev/null
echo "re-parsed with sp-opt: ok"

python3 - "$out/llama-demo.mlir" <<'PY'
import collections, math, re, sys
text = open(sys.argv[1]).read().split("{-#")[0]   # the IR, not the weight blobs
weights = re.findall(r"ml_program\.global private @(\S+)\(.*?: tensor<([^>]*)>\)", text)
def elements(shape):
    return math.prod(int(d) for d in shape.split("x")[:-1])
params = sum(elements(shape) for _, shape in weights)
ops = collections.Counter(re.findall(r"= (graph\.\w+)", text))
signature = re.search(r"func\.func @main\((.*)\) -> \((.*)\) \{", text)
print(f"weights: {len(weights)} tensors, {params:,} parameters ({params * 4 / 2**20:.1f} MiB fp32)")
if signature:
    print("inputs :", re.sub(r"%arg\d+: ", "", re.sub(r" \{[^}]*\}", "", signature.group(1))))
    print("outputs:", re.sub(r" \{[^}]*\}", "", signature.group(2)))
print(f"graph ops: {sum(ops.values())} after folding")
for name, count in ops.most_common():
    print(f"  {name:<24} {count}")
PY
