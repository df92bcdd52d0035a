# MatMul: batched, broadcast batch dims, 1-D operands. Gemm: transA/transB,
# alpha/beta and the optional bias.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("MatMul", ["x", "w"], ["proj"]),
    node("MatMul", ["q", "k"], ["scores"]),
    node("MatMul", ["q", "kb"], ["bcast"]),
    node("MatMul", ["v", "w"], ["vec_mat"]),
    node("MatMul", ["x", "v8"], ["mat_vec"]),
    node("MatMul", ["v", "v"], ["dot"]),
    node("Gemm", ["a", "b", "c"], ["gemm"], transA=1, transB=1, alpha=0.5, beta=2.0),
    node("Gemm", ["a2", "b2"], ["gemm_nobias"]),
],
    inputs=[("x", "f32", ["batch", "seq", 8]), ("q", "f32", ["batch", 4, "seq", 16]),
            ("k", "f32", ["batch", 4, 16, "seq"]), ("kb", "f32", [16, 7]),
            ("v", "f32", [8]), ("v8", "f32", [8]),
            ("a", "f32", [3, 5]), ("b", "f32", [6, 3]), ("c", "f32", [6]),
            ("a2", "f32", ["m", 3]), ("b2", "f32", [3, 2])],
    outputs=["proj", "scores", "bcast", "vec_mat", "mat_vec", "dot", "gemm", "gemm_nobias"],
    initializers=[const("w", np.zeros((8, 32), np.float32))])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x8xf32>
# CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<?x4x?x16xf32>
# CHECK-SAME: %[[K:[a-z0-9]+]]: tensor<?x4x16x?xf32>
# CHECK-SAME: %[[KB:[a-z0-9]+]]: tensor<16x7xf32>
# CHECK-SAME: %[[V:[a-z0-9]+]]: tensor<8xf32>
# CHECK-SAME: %[[V8:[a-z0-9]+]]: tensor<8xf32>
# CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<3x5xf32>
# CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<6x3xf32>
# CHECK-SAME: %[[C:[a-z0-9]+]]: tensor<6xf32>
# CHECK-SAME: %[[A2:[a-z0-9]+]]: tensor<?x3xf32>
# CHECK-SAME: %[[B2:[a-z0-9]+]]: tensor<3x2xf32>
# CHECK: %[[W:.*]] = ml_program.global_load_const @w : tensor<8x32xf32>
# CHECK: %[[PROJ:.*]] = graph.matmul %[[X]], %[[W]] : (tensor<?x?x8xf32>, tensor<8x32xf32>) -> tensor<?x?x32xf32>
# CHECK: %[[SCORES:.*]] = graph.matmul %[[Q]], %[[K]] : (tensor<?x4x?x16xf32>, tensor<?x4x16x?xf32>) -> tensor<?x4x?x?xf32>
# CHECK: %[[BCAST:.*]] = graph.matmul %[[Q]], %[[KB]] : (tensor<?x4x?x16xf32>, tensor<16x7xf32>) -> tensor<?x4x?x7xf32>
# CHECK: %[[VM:.*]] = graph.matmul %[[V]], %[[W]] : (tensor<8xf32>, tensor<8x32xf32>) -> tensor<32xf32>
# CHECK: %[[MV:.*]] = graph.matmul %[[X]], %[[V8]] : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?xf32>
# CHECK: %[[DOT:.*]] = graph.matmul %[[V]], %[[V]] : (tensor<8xf32>, tensor<8xf32>) -> tensor<f32>
# CHECK: %[[GEMM:.*]] = graph.gemm %[[A]], %[[B]], %[[C]] {alpha = 5.000000e-01 : f64, beta = 2.000000e+00 : f64, transpose_a = true, transpose_b = true} : (tensor<3x5xf32>, tensor<6x3xf32>, tensor<6xf32>) -> tensor<5x6xf32>
# Default alpha = beta = 1 and no transposes print as no attributes.
# CHECK: %[[GEMM2:.*]] = graph.gemm %[[A2]], %[[B2]] : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
# CHECK: return %[[PROJ]], %[[SCORES]], %[[BCAST]], %[[VM]], %[[MV]], %[[DOT]], %[[GEMM]], %[[GEMM2]] :
