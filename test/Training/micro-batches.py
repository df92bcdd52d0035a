# sp-compile --micro-batches K: one line and exit 1 for a bad K, a model
# without a batch sp can slice, or without --train; --loss=output averages the
# model's own loss over the slices, which equals the whole batch's when that
# loss is a mean over the batch; --report shows both activation peaks.
# RUN: %python %s %t
# RUN: %python %models/gpt2.py -o %t.gpt2.onnx --layers 1 --hidden 16 --heads 2 --vocab 32 --max-positions 8
# RUN: %python %models/gpt2.py -o %t.fixed.onnx --layers 1 --hidden 16 --heads 2 --vocab 32 --max-positions 8 --batch 4 --sequence 8

# RUN: %exit1 sp-compile %t.gpt2.onnx --train --input-shape input_ids=4x8 --micro-batches 0 | FileCheck %s --check-prefix=ZERO
# ZERO: {{^}}sp-compile: error: --micro-batches 0: the count must be at least 1{{$}}
# RUN: %exit1 sp-compile %t.gpt2.onnx --train --input-shape input_ids=4x8 --micro-batches 3 | FileCheck %s --check-prefix=DIVIDE
# DIVIDE: {{^}}sp-compile: error: {{.*}}.gpt2.onnx: --micro-batches 3 does not divide input 'input_ids' dim 0 (the batch 'batch') of 4{{$}}
# RUN: %exit1 sp-compile %t.gpt2.onnx --train --micro-batches 2 | FileCheck %s --check-prefix=UNBOUND
# UNBOUND: {{^}}sp-compile: error: {{.*}}.gpt2.onnx: --micro-batches 2: input 'input_ids' has no batch size; give it with --input-shape{{$}}
# RUN: %exit1 sp-compile %t.fixed.onnx --train --micro-batches 2 | FileCheck %s --check-prefix=FIXED
# FIXED: {{^}}sp-compile: error: {{.*}}.fixed.onnx: --micro-batches 2: the model fixes input 'input_ids' dim 0 (the batch) to 4; micro-batches need it symbolic (export with a dynamic batch){{$}}
# RUN: %exit1 sp-compile %t.scalar.onnx --train --loss=output --input-shape x=4x3 --micro-batches 2 | FileCheck %s --check-prefix=SCALAR
# SCALAR: {{^}}sp-compile: error: {{.*}}.scalar.onnx: --micro-batches 2: input 'scale' is a scalar; micro-batches slice every input along its batch dim (dim 0){{$}}
# RUN: %exit1 sp-compile %t.gpt2.onnx --input-shape input_ids=4x8 --micro-batches 2 | FileCheck %s --check-prefix=NOTRAIN
# NOTRAIN: {{^}}sp-compile: error: training options ({{.*}}--micro-batches{{.*}}) need --train{{$}}

# RUN: sp-compile --help | FileCheck %s --check-prefix=HELP
# HELP: --micro-batches=<K>

# --loss=output: the mean of x * w over a [4, 3] batch, in 2 slices of 2 rows.
# Its gradient is the mean of x's rows / 3, the loss's too: the whole batch's.
# RUN: sp-compile %t.mean.onnx --train --loss=output --optimizer=sgd --lr=1 --input-shape x=4x3 --micro-batches 2 -o %t.mean.spplan
# RUN: %python -c "import numpy as np; np.save('%t.x.npy', np.arange(12, dtype=np.float32).reshape(4, 3))"
# RUN: sp-run %t.mean.spplan --input x=%t.x.npy --steps 1 --dump %t.dump | FileCheck %s --check-prefix=MEAN
# MEAN: step 1/1  loss 5.5000
# RUN: %python -c "import numpy as np; print(np.load('%t.dump/grad/w.npy').tolist())" | FileCheck %s --check-prefix=GRAD
# GRAD: [1.5, 1.83333{{[0-9]+}}, 2.16666{{[0-9]+}}]
# RUN: sp-compile %t.mean.onnx --train --loss=output --optimizer=sgd --lr=1 --input-shape x=4x3 -o %t.full.spplan
# RUN: sp-run %t.full.spplan --input x=%t.x.npy --steps 1 --dump %t.full.dump
# RUN: %python -c "import numpy as np; a, b = np.load('%t.dump/param/w.npy'), np.load('%t.full.dump/param/w.npy'); assert np.allclose(a, b, rtol=1e-6, atol=0), (a, b)"
# The step returns the loss and gradients only, not the model's outputs.
# RUN: not ls %t.dump/y.npy

# A quarter of the batch at a time: the activation peak is less than half the
# whole batch's.
# RUN: sp-compile %t.gpt2.onnx --train --input-shape input_ids=4x8 --micro-batches 4 --report -o %t.gpt2.spplan > %t.report
# RUN: FileCheck %s --check-prefix=REPORT < %t.report
# RUN: %python -c "import re; t = open('%t.report').read(); micro, full = (int(re.search(r'^  ' + w + r' +(\d+)', t, re.M).group(1)) for w in ('peak activations', 'full-batch activations')); assert 0 < 2 * micro < full, (micro, full)"
# REPORT: peak activations {{ *}}{{[0-9]+}} {{.*}} one micro-batch of 4
# REPORT-NEXT: full-batch activations {{ *}}{{[0-9]+}} {{.*}} the same without --micro-batches
# REPORT: micro-batches 4 per update, gradients accumulated, then one reduction over ranks, clipping and update
import sys

from onnx_test_builder import *

base = sys.argv[1]
save([node("Mul", ["x", "w"], ["y"]), node("ReduceMean", ["y"], ["loss"], keepdims=0)],
     inputs=[("x", "f32", ["batch", 3])], outputs=["loss", "y"],
     initializers=[const("w", np.ones((3,), np.float32))], path=base + ".mean.onnx")
save([node("Mul", ["x", "scale"], ["y"]), node("Mul", ["y", "w"], ["z"]),
      node("ReduceMean", ["z"], ["loss"], keepdims=0)],
     inputs=[("x", "f32", ["batch", 3]), ("scale", "f32", [])], outputs=["loss"],
     initializers=[const("w", np.ones((3,), np.float32))], path=base + ".scalar.onnx")
