# Transpose (given and default perm) and Split (sizes input, num_outputs at
# opset 18, equal split without either, uneven last piece).
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Transpose", ["x"], ["t"], perm=[0, 2, 1, 3]),
    node("Transpose", ["x"], ["t_default"]),
    node("Split", ["y", "sizes"], ["s0", "s1", "s2"], axis=-1),
    node("Split", ["y"], ["n0", "n1", "n2"], axis=1, num_outputs=3),
    node("Split", ["y"], ["e0", "e1"], axis=1),
    node("Split", ["z"], ["u0", "u1", "u2"], num_outputs=3),
],
    inputs=[("x", "f32", ["batch", "seq", 4, 16]), ("y", "f32", ["seq", 12]),
            ("z", "f32", [7])],
    outputs=["t", "t_default", "s0", "s1", "s2", "n0", "n1", "n2", "e0", "e1",
             "u0", "u1", "u2"],
    initializers=[const("sizes", [2, 4, 6], np.int64)], opset=18)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x4x16xf32>
# CHECK-SAME: %[[Y:[a-z0-9]+]]: tensor<?x12xf32>
# CHECK-SAME: %[[Z:[a-z0-9]+]]: tensor<7xf32>
# CHECK: %[[T:.*]] = graph.transpose %[[X]] {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x?x4x16xf32>) -> tensor<?x4x?x16xf32>
# Without perm, Transpose reverses the dims.
# CHECK: %[[TD:.*]] = graph.transpose %[[X]] {perm = array<i64: 3, 2, 1, 0>} : (tensor<?x?x4x16xf32>) -> tensor<16x4x?x?xf32>
# CHECK: %[[S:.*]]:3 = graph.split %[[Y]] {axis = 1 : i64, sizes = array<i64: 2, 4, 6>} : (tensor<?x12xf32>) -> (tensor<?x2xf32>, tensor<?x4xf32>, tensor<?x6xf32>)
# CHECK: %[[N:.*]]:3 = graph.split %[[Y]] {axis = 1 : i64, sizes = array<i64: 4, 4, 4>} : (tensor<?x12xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>)
# CHECK: %[[E:.*]]:2 = graph.split %[[Y]] {axis = 1 : i64, sizes = array<i64: 6, 6>} : (tensor<?x12xf32>) -> (tensor<?x6xf32>, tensor<?x6xf32>)
# ONNX: pieces of ceil(7 / 3) = 3, the last one smaller.
# CHECK: %[[U:.*]]:3 = graph.split %[[Z]] {axis = 0 : i64, sizes = array<i64: 3, 3, 1>} : (tensor<7xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<1xf32>)
# CHECK: return %[[T]], %[[TD]], %[[S]]#0, %[[S]]#1, %[[S]]#2, %[[N]]#0, %[[N]]#1, %[[N]]#2, %[[E]]#0, %[[E]]#1, %[[U]]#0, %[[U]]#1, %[[U]]#2 :
