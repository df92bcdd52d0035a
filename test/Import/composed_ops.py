# Ops the importer spells in other graph ops: reductions (ReduceL2, ReduceMin,
# ReduceLogSumExp), activations (LeakyRelu, HardSwish), Clip, Size,
# LogSoftmax and Mean. ONNX's node tests check their values end to end
# (test/integration/onnx_node_tests.py); this checks their form.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
from onnx_test_builder import *

save([node("ReduceL2", ["x"], ["l2"], axes=[1], keepdims=0),
      node("ReduceMin", ["x"], ["lowest"], axes=[-1]),
      node("ReduceLogSumExp", ["x"], ["lse"], axes=[1], keepdims=0),
      node("LeakyRelu", ["x"], ["leaky"], alpha=0.5),
      node("HardSwish", ["x"], ["hswish"]),
      node("Clip", ["x", "low", "high"], ["clipped"]),
      node("Size", ["x"], ["size"]),
      node("LogSoftmax", ["x"], ["logits"]),
      node("Mean", ["x", "x"], ["mean"])],
     inputs=[("x", "f32", [2, 3])],
     outputs=["l2", "lowest", "lse", "leaky", "hswish", "clipped", "size", "logits", "mean"],
     initializers=[const("low", np.float32(-1)), const("high", np.float32(1))], opset=17)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x3xf32>
# CHECK-DAG: %[[SIZE:.*]] = graph.constant dense<6> : tensor<i64>
# CHECK-DAG: %[[HALF:.*]] = graph.constant dense<5.000000e-01> : tensor<f32>
# CHECK-DAG: %[[ZERO:.*]] = graph.constant dense<0.000000e+00> : tensor<f32>
# CHECK-DAG: %[[TWO:.*]] = graph.constant dense<2.000000e+00> : tensor<f32>
# sqrt(sum(x * x))
# CHECK: %[[SQUARES:.*]] = graph.mul %[[X]], %[[X]]
# CHECK: %[[SUMSQ:.*]] = graph.reduce_sum %[[SQUARES]] {axes = array<i64: 1>, keep_dims = false}
# CHECK: %[[L2:.*]] = graph.sqrt %[[SUMSQ]]
# -max(-x)
# CHECK: %[[NEGATED:.*]] = graph.neg %[[X]]
# CHECK: %[[NEGMAX:.*]] = graph.reduce_max %[[NEGATED]] {axes = array<i64: 1>}
# CHECK: %[[MIN:.*]] = graph.neg %[[NEGMAX]]
# log(sum(exp(x - max))) + max; LogSoftmax below shares x - max and its exp.
# CHECK: %[[PEAK:.*]] = graph.reduce_max %[[X]] {axes = array<i64: 1>}
# CHECK: %[[SHIFTED:.*]] = graph.sub %[[X]], %[[PEAK]]
# CHECK: %[[EXP:.*]] = graph.exp %[[SHIFTED]]
# CHECK: %[[SUMEXP:.*]] = graph.reduce_sum %[[EXP]] {axes = array<i64: 1>, keep_dims = false}
# CHECK: %[[LOG:.*]] = graph.log %[[SUMEXP]]
# CHECK: %[[PEAK2:.*]] = graph.reduce_max %[[X]] {axes = array<i64: 1>, keep_dims = false}
# CHECK: %[[LSE:.*]] = graph.add %[[LOG]], %[[PEAK2]]
# CHECK: %[[NEGATIVE:.*]] = graph.less %[[X]], %[[ZERO]]
# CHECK: %[[SCALED:.*]] = graph.mul %[[X]], %[[HALF]]
# CHECK: %[[LEAKY:.*]] = graph.where %[[NEGATIVE]], %[[SCALED]], %[[X]]
# x * max(min(x / 6 + 0.5, 1), 0)
# CHECK: graph.min
# CHECK: %[[GATE:.*]] = graph.max
# CHECK: %[[HSWISH:.*]] = graph.mul %[[X]], %[[GATE]]
# max(x, low), then min(., high)
# CHECK: %[[ABOVE:.*]] = graph.max %[[X]]
# CHECK: %[[CLIPPED:.*]] = graph.min %[[ABOVE]]
# CHECK: %[[SUMEXPKEPT:.*]] = graph.reduce_sum %[[EXP]] {axes = array<i64: 1>}
# CHECK: %[[LOGKEPT:.*]] = graph.log %[[SUMEXPKEPT]]
# CHECK: %[[LOGSOFTMAX:.*]] = graph.sub %[[SHIFTED]], %[[LOGKEPT]]
# CHECK: %[[SUM:.*]] = graph.add %[[X]], %[[X]]
# CHECK: %[[MEAN:.*]] = graph.div %[[SUM]], %[[TWO]]
# CHECK: return %[[L2]], %[[MIN]], %[[LSE]], %[[LEAKY]], %[[HSWISH]], %[[CLIPPED]], %[[SIZE]], %[[LOGSOFTMAX]], %[[MEAN]] :
