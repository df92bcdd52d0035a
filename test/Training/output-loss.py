# --loss=output: the model's own scalar output is the loss. A loss linear in a
# parameter has a constant gradient, a reduction over all dims has no axes,
# and a parameter the loss does not read gets a zero gradient and a warning;
# the plan runs and SGD moves the parameter by -lr * gradient each step.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --train --loss=output --optimizer=sgd --lr=0.5 -o %t.spplan 2>&1 | FileCheck %s --check-prefix=WARN
# RUN: %python -c "import numpy as np; np.save('%t.x.npy', np.arange(6, dtype=np.float32).reshape(2, 3))"
# RUN: sp-run %t.spplan --input x=%t.x.npy --steps 2 --dump %t.dump | FileCheck %s --check-prefix=STEPS
# RUN: %python -c "import numpy as np; d = '%t.dump'; print(np.load(d + '/grad/w.npy').tolist(), np.load(d + '/param/w.npy').tolist(), np.load(d + '/grad/b.npy').tolist())" | FileCheck %s --check-prefix=DUMP
# RUN: %exit1 sp-compile %t.onnx --train -o %t.bad.spplan | FileCheck %s --check-prefix=CAUSAL
import sys

from onnx_test_builder import *

save([node("Mul", ["x", "w"], ["y"]), node("ReduceSum", ["y"], ["loss"], keepdims=0),
      node("Add", ["b", "b"], ["unused"])],
     inputs=[("x", "f32", [2, 3])], outputs=["loss", "unused"],
     initializers=[const("w", np.ones((2, 3), np.float32)),
                   const("b", np.ones((3,), np.float32))], opset=17)

# WARN: sp-compile: warning: parameter @b does not reach the loss; its gradient is zero
# STEPS: step 1/2  loss 15.0000
# STEPS: step 2/2  loss -12.5000
# w = 1 - 2 * 0.5 * x after two steps; b's gradient stays zero.
# DUMP: {{\[\[}}0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] {{\[\[}}1.0, 0.0, -1.0], [-2.0, -3.0, -4.0]] [0.0, 0.0, 0.0]
# CAUSAL: {{^}}sp-compile: error: {{.*}}.onnx: causal-lm loss: the model has no rank-2 integer input (token ids [batch, sequence]){{$}}
