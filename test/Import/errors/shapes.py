# Shapes that do not agree: the message names the node, op, opset and the
# shapes involved; exit 1 with one line.
# RUN: %python %s %t
# RUN: %exit1 sp-compile %t.matmul.onnx --emit=mlir | FileCheck %s --check-prefix=MATMUL
# MATMUL: {{^}}sp-compile: error: {{.*}}.matmul.onnx: node 'mm' (MatMul, opset 17): matmul contracting dims differ: [2, 3] x [4, 5]{{$}}
# RUN: %exit1 sp-compile %t.add.onnx --emit=mlir | FileCheck %s --check-prefix=ADD
# ADD: {{^}}sp-compile: error: {{.*}}.add.onnx: node 'sum' (Add, opset 17): shapes [?, 3] and [4] do not broadcast{{$}}
# RUN: %exit1 sp-compile %t.reshape.onnx --emit=mlir | FileCheck %s --check-prefix=RESHAPE
# RESHAPE: {{^}}sp-compile: error: {{.*}}.reshape.onnx: node 'rs' (Reshape, opset 17): cannot reshape [2, 3] (6 elements) to [4, 2]{{$}}
# RUN: %exit1 sp-compile %t.concat.onnx --emit=mlir | FileCheck %s --check-prefix=CONCAT
# CONCAT: {{^}}sp-compile: error: {{.*}}.concat.onnx: node 'cat' (Concat, opset 17): concat inputs disagree on dim 1: [2, 3] vs [2, 4]{{$}}
# A mismatch that only shows once --input-shape binds the dims.
# RUN: sp-compile %t.bound.onnx --emit=mlir | FileCheck %s --check-prefix=UNBOUND
# UNBOUND: graph.add {{.*}} -> tensor<?xf32>
# RUN: %exit1 sp-compile %t.bound.onnx --emit=mlir --input-shape a=3 --input-shape b=5 | FileCheck %s --check-prefix=BOUND
# BOUND: {{^}}sp-compile: error: {{.*}}.bound.onnx: node 'sum' (Add, opset 17): shapes [3] and [5] do not broadcast{{$}}
import sys
from onnx_test_builder import *

out = sys.argv[1]
save([node("MatMul", ["a", "b"], ["y"], name="mm")],
     inputs=[("a", "f32", [2, 3]), ("b", "f32", [4, 5])], outputs=["y"], path=out + ".matmul.onnx")
save([node("Add", ["a", "b"], ["y"], name="sum")],
     inputs=[("a", "f32", ["n", 3]), ("b", "f32", [4])], outputs=["y"], path=out + ".add.onnx")
save([node("Reshape", ["a", "shape"], ["y"], name="rs")], inputs=[("a", "f32", [2, 3])],
     outputs=["y"], initializers=[const("shape", [4, 2], np.int64)], path=out + ".reshape.onnx")
save([node("Concat", ["a", "b"], ["y"], name="cat", axis=0)],
     inputs=[("a", "f32", [2, 3]), ("b", "f32", [2, 4])], outputs=["y"], path=out + ".concat.onnx")
save([node("Add", ["a", "b"], ["y"], name="sum")],
     inputs=[("a", "f32", ["n"]), ("b", "f32", ["m"])], outputs=["y"], path=out + ".bound.onnx")
