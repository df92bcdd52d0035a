# Concat (static and dynamic dims, negative axis), Gather (negative indices,
# axis 1, scalar index), GatherND (batch_dims), Trilu (upper/lower, k).
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Concat", ["a", "b"], ["cat"], axis=-1),
    node("Concat", ["a", "a", "a"], ["cat0"], axis=0),
    node("Gather", ["emb", "ids"], ["embedded"]),
    node("Gather", ["a", "neg_idx"], ["g_axis1"], axis=1),
    node("Gather", ["a", "scalar_idx"], ["g_scalar"], axis=1),
    node("GatherND", ["m", "nd_idx"], ["gnd"]),
    node("GatherND", ["m", "nd_idx_b"], ["gnd_b"], batch_dims=1),
    node("Trilu", ["sq"], ["upper"]),
    node("Trilu", ["sq", "k1"], ["lower_k"], upper=0),
    node("Trilu", ["sq", "km1"], ["upper_km1"], upper=1),
],
    inputs=[("a", "f32", ["n", 3]), ("b", "f32", ["n", 5]), ("ids", "i64", ["batch", "seq"]),
            ("m", "f32", [4, 5, 6]), ("nd_idx", "i64", [2, 2]), ("nd_idx_b", "i64", [4, 1]),
            ("sq", "f32", ["b", 8, 8])],
    outputs=["cat", "cat0", "embedded", "g_axis1", "g_scalar", "gnd", "gnd_b", "upper",
             "lower_k", "upper_km1"],
    initializers=[const("emb", np.zeros((100, 16), np.float32)),
                  const("neg_idx", [-1, 0], np.int64), const("scalar_idx", -2, np.int64),
                  const("k1", 1, np.int64), const("km1", -1, np.int64)])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<?x3xf32>
# CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<?x5xf32>
# CHECK-SAME: %[[IDS:[a-z0-9]+]]: tensor<?x?xi64>
# CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<4x5x6xf32>
# CHECK-SAME: %[[ND:[a-z0-9]+]]: tensor<2x2xi64>
# CHECK-SAME: %[[NDB:[a-z0-9]+]]: tensor<4x1xi64>
# CHECK-SAME: %[[SQ:[a-z0-9]+]]: tensor<?x8x8xf32>
# CHECK-DAG: %[[SCALAR:.*]] = graph.constant dense<-2> : tensor<i64>
# CHECK-DAG: %[[NEG:.*]] = graph.constant dense<[-1, 0]> : tensor<2xi64>
# CHECK-DAG: %[[EMB:.*]] = ml_program.global_load_const @emb : tensor<100x16xf32>
# CHECK: %[[CAT:.*]] = graph.concat %[[A]], %[[B]] {axis = -1 : i64} : (tensor<?x3xf32>, tensor<?x5xf32>) -> tensor<?x8xf32>
# CHECK: %[[CAT0:.*]] = graph.concat %[[A]], %[[A]], %[[A]] {axis = 0 : i64} : (tensor<?x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
# CHECK: %[[EMBD:.*]] = graph.gather %[[EMB]], %[[IDS]] {axis = 0 : i64} : (tensor<100x16xf32>, tensor<?x?xi64>) -> tensor<?x?x16xf32>
# CHECK: %[[G1:.*]] = graph.gather %[[A]], %[[NEG]] {axis = 1 : i64} : (tensor<?x3xf32>, tensor<2xi64>) -> tensor<?x2xf32>
# A scalar index drops the gathered dim.
# CHECK: %[[GS:.*]] = graph.gather %[[A]], %[[SCALAR]] {axis = 1 : i64} : (tensor<?x3xf32>, tensor<i64>) -> tensor<?xf32>
# CHECK: %[[GND:.*]] = graph.gather_nd %[[M]], %[[ND]] : (tensor<4x5x6xf32>, tensor<2x2xi64>) -> tensor<2x6xf32>
# CHECK: %[[GNDB:.*]] = graph.gather_nd %[[M]], %[[NDB]] {batch_dims = 1 : i64} : (tensor<4x5x6xf32>, tensor<4x1xi64>) -> tensor<4x6xf32>
# CHECK: %[[UP:.*]] = graph.trilu %[[SQ]] {upper = true} : tensor<?x8x8xf32>
# CHECK: %[[LOWK:.*]] = graph.trilu %[[SQ]] {diagonal = 1 : i64, upper = false} : tensor<?x8x8xf32>
# CHECK: %[[UPKM1:.*]] = graph.trilu %[[SQ]] {diagonal = -1 : i64, upper = true} : tensor<?x8x8xf32>
# CHECK: return %[[CAT]], %[[CAT0]], %[[EMBD]], %[[G1]], %[[GS]], %[[GND]], %[[GNDB]], %[[UP]], %[[LOWK]], %[[UPKM1]] :
