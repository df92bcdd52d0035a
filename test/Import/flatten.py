# Flatten becomes a reshape to [product of leading dims, product of the rest];
# with dynamic dims the shape is computed in the graph, with static ones it folds.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir --input-shape x=2x3x4 | FileCheck %s --check-prefix=BOUND
from onnx_test_builder import *

save([node("Flatten", ["x"], ["a1"]),
      node("Flatten", ["x"], ["a0"], axis=0),
      node("Flatten", ["x"], ["a2"], axis=-1),
      node("Flatten", ["s"], ["static"], axis=2)],
     inputs=[("x", "f32", ["batch", 3, 4]), ("s", "f32", [2, 3, 4, 5])],
     outputs=["a1", "a0", "a2", "static"])

# CHECK-LABEL: func.func @main(
# CHECK: %[[S:.*]] = graph.constant dense<[6, 20]> : tensor<2xi64>
# CHECK: graph.reshape {{.*}} : (tensor<?x3x4xf32>, tensor<2xi64>) -> tensor<?x12xf32>
# CHECK: graph.reshape {{.*}} : (tensor<?x3x4xf32>, tensor<2xi64>) -> tensor<1x?xf32>
# CHECK: graph.reshape {{.*}} : (tensor<?x3x4xf32>, tensor<2xi64>) -> tensor<?x4xf32>
# CHECK: graph.reshape %{{.*}}, %[[S]] {allow_zero = true} : (tensor<2x3x4x5xf32>, tensor<2xi64>) -> tensor<6x20xf32>

# BOUND-NOT: graph.shape
# BOUND: -> tensor<2x12xf32>
# BOUND: -> tensor<1x24xf32>
# BOUND: -> tensor<6x4xf32>
# BOUND-NOT: graph.shape
