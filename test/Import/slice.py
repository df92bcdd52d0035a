# Slice: negative starts/ends, ends clamped past the dim, INT64_MAX ends,
# steps (negative too), omitted axes and steps, dynamic dims.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

INT64_MAX = np.iinfo(np.int64).max
I = lambda name, v: const(name, v, np.int64)
save([
    node("Slice", ["x", "s_neg", "e_max", "ax_last"], ["last2"]),         # x[..., -2:]
    node("Slice", ["x", "s_1", "e_100", "ax_last"], ["clamped"]),         # x[..., 1:100]
    node("Slice", ["x", "s_0", "e_max", "ax_last", "st_2"], ["stepped"]),  # x[..., ::2]
    node("Slice", ["x", "s_m1", "e_min", "ax_last", "st_m1"], ["reversed"]),  # x[..., ::-1]
    node("Slice", ["x", "s_0_1", "e_1_3"], ["no_axes"]),                   # x[0:1, 1:3]
    node("Slice", ["x", "s_1", "e_max", "ax_1"], ["dyn"]),                 # x[:, 1:]
    node("Slice", ["x", "s_0", "e_m1", "ax_1"], ["dyn_neg"]),              # x[:, :-1]
],
    inputs=[("x", "f32", [3, "seq", 10])],
    outputs=["last2", "clamped", "stepped", "reversed", "no_axes", "dyn", "dyn_neg"],
    initializers=[I("s_neg", [-2]), I("e_max", [INT64_MAX]), I("ax_last", [-1]),
                  I("s_1", [1]), I("e_100", [100]), I("s_0", [0]), I("st_2", [2]),
                  I("s_m1", [-1]), I("e_min", [np.iinfo(np.int64).min]), I("st_m1", [-1]),
                  I("s_0_1", [0, 1]), I("e_1_3", [1, 3]), I("ax_1", [1]), I("e_m1", [-1])])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<3x?x10xf32>
# CHECK-SAME: -> (tensor<3x?x2xf32> {graph.onnx_name = "last2"}, tensor<3x?x9xf32> {graph.onnx_name = "clamped"}, tensor<3x?x5xf32> {graph.onnx_name = "stepped"}, tensor<3x?x10xf32> {graph.onnx_name = "reversed"}, tensor<1x?x10xf32> {graph.onnx_name = "no_axes"}, tensor<3x?x10xf32> {graph.onnx_name = "dyn"}, tensor<3x?x10xf32> {graph.onnx_name = "dyn_neg"})
# CHECK-DAG: %[[ONES2:.*]] = graph.constant dense<1> : tensor<2xi64>
# CHECK-DAG: %[[M2:.*]] = graph.constant dense<-2> : tensor<1xi64>
# CHECK-DAG: %[[MAX:.*]] = graph.constant dense<9223372036854775807> : tensor<1xi64>
# CHECK-DAG: %[[M1:.*]] = graph.constant dense<-1> : tensor<1xi64>
# CHECK-DAG: %[[ONE:.*]] = graph.constant dense<1> : tensor<1xi64>
# CHECK-DAG: %[[HUNDRED:.*]] = graph.constant dense<100> : tensor<1xi64>
# CHECK-DAG: %[[ZERO:.*]] = graph.constant dense<0> : tensor<1xi64>
# CHECK-DAG: %[[TWO:.*]] = graph.constant dense<2> : tensor<1xi64>
# CHECK-DAG: %[[MIN:.*]] = graph.constant dense<-9223372036854775808> : tensor<1xi64>
# CHECK-DAG: %[[S01:.*]] = graph.constant dense<[0, 1]> : tensor<2xi64>
# CHECK-DAG: %[[E13:.*]] = graph.constant dense<[1, 3]> : tensor<2xi64>
# CHECK: %[[LAST2:.*]] = graph.slice %[[X]], %[[M2]], %[[MAX]], %[[M1]], %[[ONE]] : (tensor<3x?x10xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x?x2xf32>
# CHECK: %[[CLAMPED:.*]] = graph.slice %[[X]], %[[ONE]], %[[HUNDRED]], %[[M1]], %[[ONE]] : {{.*}} -> tensor<3x?x9xf32>
# CHECK: %[[STEPPED:.*]] = graph.slice %[[X]], %[[ZERO]], %[[MAX]], %[[M1]], %[[TWO]] : {{.*}} -> tensor<3x?x5xf32>
# CHECK: %[[REV:.*]] = graph.slice %[[X]], %[[M1]], %[[MIN]], %[[M1]], %[[M1]] : {{.*}} -> tensor<3x?x10xf32>
# Omitted axes become [0, 1] (equal to the starts here) and steps [1, 1].
# CHECK: %[[NOAXES:.*]] = graph.slice %[[X]], %[[S01]], %[[E13]], %[[S01]], %[[ONES2]] : (tensor<3x?x10xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<1x?x10xf32>
# CHECK: %[[DYN:.*]] = graph.slice %[[X]], %[[ONE]], %[[MAX]], %[[ONE]], %[[ONE]] : {{.*}} -> tensor<3x?x10xf32>
# CHECK: %[[DYNNEG:.*]] = graph.slice %[[X]], %[[ZERO]], %[[M1]], %[[ONE]], %[[ONE]] : {{.*}} -> tensor<3x?x10xf32>
# CHECK: return %[[LAST2]], %[[CLAMPED]], %[[STEPPED]], %[[REV]], %[[NOAXES]], %[[DYN]], %[[DYNNEG]] :
