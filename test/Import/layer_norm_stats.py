# LayerNormalization's optional Mean and InvStdDev outputs: the statistics over
# the dims from `axis` on, kept as dims of size 1, in f32 (stash_type 1).
# (ONNX's node tests check their values end to end: test/integration.)
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
from onnx_test_builder import *

save([node("LayerNormalization", ["x", "gamma"], ["y", "mean", "inv_std"], axis=1,
           epsilon=0.5)],
     inputs=[("x", "f32", [2, 3, 4])], outputs=["y", "mean", "inv_std"],
     initializers=[const("gamma", np.ones((3, 4), np.float32))])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x3x4xf32>
# CHECK-DAG: %[[EPSILON:.*]] = graph.constant dense<5.000000e-01> : tensor<f32>
# CHECK: %[[Y:.*]] = graph.layer_norm %[[X]]
# CHECK: %[[MEAN:.*]] = graph.reduce_mean %[[X]] {axes = array<i64: 1, 2>} : (tensor<2x3x4xf32>) -> tensor<2x1x1xf32>
# CHECK: %[[CENTERED:.*]] = graph.sub %[[X]], %[[MEAN]]
# CHECK: %[[SQUARED:.*]] = graph.mul %[[CENTERED]], %[[CENTERED]]
# CHECK: %[[VARIANCE:.*]] = graph.reduce_mean %[[SQUARED]] {axes = array<i64: 1, 2>}
# CHECK: %[[SHIFTED:.*]] = graph.add %[[VARIANCE]], %[[EPSILON]]
# CHECK: %[[DEVIATION:.*]] = graph.sqrt %[[SHIFTED]]
# CHECK: %[[INVERSE:.*]] = graph.reciprocal %[[DEVIATION]]
# CHECK: return %[[Y]], %[[MEAN]], %[[INVERSE]] :
