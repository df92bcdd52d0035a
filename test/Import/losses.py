# SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss. Summed or averaged
# without weights and without the log_prob output, the softmax loss is the
# fused cross_entropy_sum (classes moved last); otherwise both are LogSoftmax
# and a where() that keeps each position's target class, summed over the
# classes. ONNX's node tests check their values (test/integration/onnx_node_tests.py).
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([node("SoftmaxCrossEntropyLoss", ["scores", "labels"], ["mean"], ignore_index=-100),
      node("SoftmaxCrossEntropyLoss", ["scores3", "labels2"], ["sum3"], reduction="sum"),
      node("SoftmaxCrossEntropyLoss", ["scores", "labels", "weight"], ["weighted", "log_prob"],
           reduction="mean"),
      node("NegativeLogLikelihoodLoss", ["scores", "labels"], ["nll"], reduction="none",
           ignore_index=1)],
     inputs=[("scores", "f32", [4, 3]), ("labels", "i64", [4]),
             ("scores3", "f32", [2, 3, 5]), ("labels2", "i32", [2, 5])],
     outputs=["mean", "sum3", "weighted", "log_prob", "nll"],
     initializers=[const("weight", [0.5, 1.0, 2.0], np.float32)], opset=17)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<4x3xf32>
# CHECK-SAME: %[[L:[a-z0-9]+]]: tensor<4xi64>
# CHECK-SAME: %[[S3:[a-z0-9]+]]: tensor<2x3x5xf32>
# CHECK-SAME: %[[L2:[a-z0-9]+]]: tensor<2x5xi32>
# CHECK-DAG: %[[ONE:.*]] = graph.constant dense<1> : tensor<i64>
# CHECK-DAG: %[[ZERO:.*]] = graph.constant dense<0.000000e+00> : tensor<f32>
# CHECK-DAG: %[[CLASSES:.*]] = graph.constant dense<{{\[\[}}0, 1, 2]]> : tensor<1x3xi64>
# CHECK-DAG: %[[IGNORED:.*]] = graph.constant dense<-100> : tensor<i64>
# CHECK-DAG: %[[W:.*]] = ml_program.global_load_const @weight : tensor<3xf32>
# mean: the fused sum over the positions whose label is not ignored, divided by their number.
# CHECK: %[[SUM:.*]] = graph.cross_entropy_sum %[[S]], %[[L]] : (tensor<4x3xf32>, tensor<4xi64>) -> tensor<f32>
# CHECK: %[[IGN:.*]] = graph.equal %[[L]], %[[IGNORED]]
# CHECK: %[[KEPT:.*]] = graph.not %[[IGN]]
# CHECK: %[[KEPTF:.*]] = graph.cast %[[KEPT]] : tensor<4xi1> -> tensor<4xf32>
# CHECK: %[[COUNT:.*]] = graph.reduce_sum %[[KEPTF]] {axes = array<i64>, keep_dims = false}
# CHECK: %[[MEAN:.*]] = graph.div %[[SUM]], %[[COUNT]]
# sum over [N, C, d]: classes last; no ignore_index, so no label is ignored.
# CHECK: %[[T:.*]] = graph.transpose %[[S3]] {perm = array<i64: 0, 2, 1>} : (tensor<2x3x5xf32>) -> tensor<2x5x3xf32>
# CHECK: %[[SUM3:.*]] = graph.cross_entropy_sum %[[T]], %[[L2]] {ignore_index = -9223372036854775808 : i64}
# weighted, with log_prob: LogSoftmax over the classes, then the target class's entry.
# CHECK: %[[MAX:.*]] = graph.reduce_max %[[S]] {axes = array<i64: 1>}
# CHECK: %[[SHIFTED:.*]] = graph.sub %[[S]], %[[MAX]]
# CHECK: %[[EXP:.*]] = graph.exp %[[SHIFTED]]
# CHECK: %[[SUMEXP:.*]] = graph.reduce_sum %[[EXP]] {axes = array<i64: 1>}
# CHECK: %[[LOG:.*]] = graph.log %[[SUMEXP]]
# CHECK: %[[LOGPROB:.*]] = graph.sub %[[SHIFTED]], %[[LOG]]
# CHECK: %[[COLUMN:.*]] = graph.unsqueeze %[[L]] {axes = array<i64: 1>} : (tensor<4xi64>) -> tensor<4x1xi64>
# CHECK: %[[HIT:.*]] = graph.equal %[[COLUMN]], %[[CLASSES]] : (tensor<4x1xi64>, tensor<1x3xi64>) -> tensor<4x3xi1>
# CHECK: %[[KEEP:.*]] = graph.where %[[HIT]], %[[LOGPROB]], %[[ZERO]]
# CHECK: %[[PICKED:.*]] = graph.reduce_sum %[[KEEP]] {axes = array<i64: 1>, keep_dims = false} : (tensor<4x3xf32>) -> tensor<4xf32>
# CHECK: %[[WROW:.*]] = graph.reshape %[[W]]
# CHECK: %[[WHIT:.*]] = graph.where %[[HIT]], %[[WROW]], %[[ZERO]]
# CHECK: %[[WPOS:.*]] = graph.reduce_sum %[[WHIT]] {axes = array<i64: 1>, keep_dims = false}
# CHECK: %[[WPICKED:.*]] = graph.mul %[[PICKED]], %[[WPOS]]
# CHECK: %[[NEG:.*]] = graph.neg %[[WPICKED]]
# CHECK: %[[TOTAL:.*]] = graph.reduce_sum %[[NEG]] {axes = array<i64>, keep_dims = false}
# CHECK: %[[WTOTAL:.*]] = graph.reduce_sum %[[WPOS]] {axes = array<i64>, keep_dims = false}
# CHECK: %[[WEIGHTED:.*]] = graph.div %[[TOTAL]], %[[WTOTAL]]
# NegativeLogLikelihoodLoss, reduction none, ignore_index 1: class 1 is never picked.
# CHECK: %[[IS1:.*]] = graph.equal %[[COLUMN]], %[[ONE]]
# CHECK: %[[NOT1:.*]] = graph.not %[[IS1]]
# CHECK: %[[HIT1:.*]] = graph.and %[[HIT]], %[[NOT1]]
# CHECK: %[[KEEP1:.*]] = graph.where %[[HIT1]], %[[S]], %[[ZERO]]
# CHECK: %[[PICKED1:.*]] = graph.reduce_sum %[[KEEP1]] {axes = array<i64: 1>, keep_dims = false}
# CHECK: %[[NLL:.*]] = graph.neg %[[PICKED1]]
# CHECK: return %[[MEAN]], %[[SUM3]], %[[WEIGHTED]], %[[LOGPROB]], %[[NLL]] :
