# Opsets whose definitions of these ops are the ones sp implements import
# like the newer ones: And at opset 7 and Not at opset 1 (unchanged since);
# at opset 11 the axes of ReduceSum, Squeeze and Unsqueeze and the sizes of
# Split are attributes; at opset 28 Cast and Reshape only widened their types.
# RUN: %python %s %t
# RUN: sp-compile %t.opset7.onnx --emit=mlir | FileCheck %s --check-prefix=OPSET7
# RUN: sp-compile %t.opset1.onnx --emit=mlir | FileCheck %s --check-prefix=OPSET1
# RUN: sp-compile %t.opset11.onnx --emit=mlir | FileCheck %s --check-prefix=OPSET11
# RUN: sp-compile %t.opset28.onnx --emit=mlir | FileCheck %s --check-prefix=OPSET28
import sys
from onnx_test_builder import *

out = sys.argv[1]
B = [("a", "bool", [2, 3]), ("b", "bool", [3])]
save([node("And", ["a", "b"], ["y"]), node("Xor", ["y", "a"], ["z"])], inputs=B,
     outputs=[("z", "bool", [2, 3])], opset=7, path=out + ".opset7.onnx")
# OPSET7: %[[AND:.*]] = graph.and %{{.*}}, %{{.*}} : (tensor<2x3xi1>, tensor<3xi1>) -> tensor<2x3xi1>
# OPSET7: graph.xor %[[AND]], %{{.*}} : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
save([node("Not", ["a"], ["y"])], inputs=B[:1], outputs=[("y", "bool", [2, 3])], opset=1,
     path=out + ".opset1.onnx")
# OPSET1: graph.not %{{.*}} : tensor<2x3xi1>

save([node("ReduceSum", ["x"], ["sum"], axes=[-1], keepdims=0),
      node("Unsqueeze", ["sum"], ["wide"], axes=[0]),
      node("Squeeze", ["wide"], ["narrow"], axes=[0]),
      node("Split", ["x"], ["left", "right"], axis=1, split=[1, 3])],
     inputs=[("x", "f32", [2, 4])], outputs=["narrow", "left", "right"], opset=11,
     path=out + ".opset11.onnx")
# OPSET11: graph.reduce_sum %{{.*}} {axes = array<i64: 1>, keep_dims = false} : (tensor<2x4xf32>) -> tensor<2xf32>
# OPSET11: graph.unsqueeze %{{.*}} {axes = array<i64: 0>} : (tensor<2xf32>) -> tensor<1x2xf32>
# OPSET11: graph.squeeze %{{.*}} {axes = array<i64: 0>} : (tensor<1x2xf32>) -> tensor<2xf32>
# OPSET11: graph.split %{{.*}} {axis = 1 : i64, sizes = array<i64: 1, 3>} : (tensor<2x4xf32>) -> (tensor<2x1xf32>, tensor<2x3xf32>)

save([node("Cast", ["x"], ["d"], to=TensorProto.DOUBLE),
      node("Reshape", ["d", "shape"], ["y"])],
     inputs=[("x", "f32", [2, 4])], outputs=["y"], opset=28,
     initializers=[const("shape", [8], np.int64)], path=out + ".opset28.onnx")
# OPSET28: graph.cast %{{.*}} : tensor<2x4xf32> -> tensor<2x4xf64>
# OPSET28: graph.reshape
