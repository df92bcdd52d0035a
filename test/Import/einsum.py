# Einsum as transposes, reshapes and one matmul per operand after the first
# (batch letters lead, contracted ones meet in the middle); letters only one
# operand has and the output lacks are summed first.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([node("Einsum", ["q", "k"], ["scores"], equation="bhqd,bhkd->bhqk"),
      node("Einsum", ["a", "b"], ["outer"], equation="i,j->ij"),
      node("Einsum", ["q"], ["summed"], equation="bhqd->bdh"),
      node("Einsum", ["q", "w"], ["ellipsis"], equation="...d,de"),
      node("Einsum", ["a", "a"], ["dot"], equation="i,i")],
     inputs=[("q", "f32", [2, 4, 3, 8]), ("k", "f32", [2, 4, 5, 8]), ("a", "f32", [3]),
             ("b", "f32", [6])],
     outputs=["scores", "outer", "summed", "ellipsis", "dot"],
     initializers=[const("w", np.ones((8, 6), np.float32))], opset=17)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<2x4x3x8xf32>
# CHECK-SAME: %[[K:[a-z0-9]+]]: tensor<2x4x5x8xf32>
# CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<3xf32>
# CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<6xf32>
# CHECK-DAG: %[[W:.*]] = ml_program.global_load_const @w : tensor<8x6xf32>
# bhqd,bhkd->bhqk: batch b h, free q and k, contracted d.
# CHECK: %[[KT:.*]] = graph.transpose %[[K]] {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x4x5x8xf32>) -> tensor<2x4x8x5xf32>
# CHECK: %[[SCORES:.*]] = graph.matmul %[[Q]], %[[KT]] : (tensor<2x4x3x8xf32>, tensor<2x4x8x5xf32>) -> tensor<2x4x3x5xf32>
# i,j->ij: an outer product over an empty contraction.
# CHECK: %[[COLA:.*]] = graph.reshape %[[A]], %{{.*}} : (tensor<3xf32>, tensor<2xi64>) -> tensor<3x1xf32>
# CHECK: %[[ROWB:.*]] = graph.reshape %[[B]], %{{.*}} : (tensor<6xf32>, tensor<2xi64>) -> tensor<1x6xf32>
# CHECK: %[[OUTER:.*]] = graph.matmul %[[COLA]], %[[ROWB]] : (tensor<3x1xf32>, tensor<1x6xf32>) -> tensor<3x6xf32>
# bhqd->bdh: q summed, then a transpose.
# CHECK: %[[QSUM:.*]] = graph.reduce_sum %[[Q]] {axes = array<i64: 2>, keep_dims = false} : (tensor<2x4x3x8xf32>) -> tensor<2x4x8xf32>
# CHECK: %[[SUMMED:.*]] = graph.transpose %[[QSUM]] {perm = array<i64: 0, 2, 1>}
# ...d,de (implicit output ...e): the ellipsis dims flattened into rows.
# CHECK: %[[ROWS:.*]] = graph.reshape %[[Q]], %{{.*}} : (tensor<2x4x3x8xf32>, tensor<2xi64>) -> tensor<24x8xf32>
# CHECK: %[[PROD:.*]] = graph.matmul %[[ROWS]], %[[W]] : (tensor<24x8xf32>, tensor<8x6xf32>) -> tensor<24x6xf32>
# CHECK: %[[ELLIPSIS:.*]] = graph.reshape %[[PROD]], %{{.*}} : (tensor<24x6xf32>, tensor<4xi64>) -> tensor<2x4x3x6xf32>
# i,i (implicit output: none): a dot product.
# CHECK: %[[ROWA:.*]] = graph.reshape %[[A]], %{{.*}} : (tensor<3xf32>, tensor<2xi64>) -> tensor<1x3xf32>
# CHECK: %[[DOT11:.*]] = graph.matmul %[[ROWA]], %[[COLA]] : (tensor<1x3xf32>, tensor<3x1xf32>) -> tensor<1x1xf32>
# CHECK: %[[DOT:.*]] = graph.reshape %[[DOT11]], %{{.*}} : (tensor<1x1xf32>, tensor<0xi64>) -> tensor<f32>
# CHECK: return %[[SCORES]], %[[OUTER]], %[[SUMMED]], %[[ELLIPSIS]], %[[DOT]] :
