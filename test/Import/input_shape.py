# --input-shape binds symbolic dims everywhere they occur: every result type
# becomes static and shape computations (Shape, Gather, Range, Reshape,
# ConstantOfShape, Expand) fold into constants.
# RUN: %python %s %t.onnx
# Without binding, the shape computations stay.
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s --check-prefix=DYN
# RUN: sp-compile %t.onnx --emit=mlir --input-shape ids=2x16 | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir --input-shape ids=2x16 | sp-opt | FileCheck %s
# Binding the other input binds the same dims (batch, seq) for both.
# RUN: sp-compile %t.onnx --emit=mlir --input-shape=pos=2x16 | FileCheck %s
# Binding both consistently is accepted.
# RUN: sp-compile %t.onnx --emit=mlir --input-shape ids=2x16 --input-shape pos=2x16 | FileCheck %s
from onnx_test_builder import *

I = lambda name, v: const(name, v, np.int64)
save([
    node("Gather", ["emb", "ids"], ["h"]),                       # batch x seq x 8
    node("Shape", ["ids"], ["shape"]),
    node("Gather", ["shape", "one"], ["seq"]),
    node("Range", ["zero", "seq", "one"], ["positions"]),
    node("Unsqueeze", ["seq", "zero_1d"], ["seq_1d"]),
    node("Concat", ["minus_one", "seq_1d", "eight"], ["new_shape"], axis=0),
    node("Reshape", ["h", "new_shape"], ["r"]),
    node("ConstantOfShape", ["shape"], ["zeros"],
         value=numpy_helper.from_array(np.array([0.0], np.float32))),
    node("Expand", ["bias", "shape"], ["expanded"]),
    node("Add", ["pos", "expanded"], ["pos_plus"]),
    node("Transpose", ["r"], ["rt"], perm=[0, 2, 1]),
],
    inputs=[("ids", "i64", ["batch", "seq"]), ("pos", "f32", ["batch", "seq"])],
    outputs=["r", "positions", "zeros", "pos_plus", "rt"],
    initializers=[const("emb", np.zeros((10, 8), np.float32)),
                  const("bias", np.zeros((1, 1), np.float32)), I("one", 1), I("zero", 0),
                  I("zero_1d", [0]), I("minus_one", [-1]), I("eight", [8])])

# DYN-LABEL: func.func @main(
# DYN-SAME: tensor<?x?xi64>
# DYN: graph.shape
# DYN: graph.range {{.*}} -> tensor<?xi64>
# DYN: graph.reshape {{.*}} -> tensor<?x?x8xf32>

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[IDS:[a-z0-9]+]]: tensor<2x16xi64> {graph.dim_names = ["batch", "seq"], graph.onnx_name = "ids"}
# CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<2x16xf32> {graph.dim_names = ["batch", "seq"], graph.onnx_name = "pos"}
# CHECK-SAME: -> (tensor<2x16x8xf32> {graph.onnx_name = "r"}, tensor<16xi64> {graph.onnx_name = "positions"}, tensor<2x16xf32> {graph.onnx_name = "zeros"}, tensor<2x16xf32> {graph.onnx_name = "pos_plus"}, tensor<2x8x16xf32> {graph.onnx_name = "rt"})
# CHECK-NOT: graph.shape
# CHECK-NOT: graph.range
# CHECK-NOT: graph.constant_of_shape
# CHECK-NOT: graph.reshape
# CHECK-NOT: ?
# CHECK-DAG: %[[ZEROS:.*]] = graph.constant dense<0.000000e+00> : tensor<2x16xf32>
# CHECK-DAG: %[[POSITIONS:.*]] = graph.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]> : tensor<16xi64>
# CHECK-DAG: %[[SHAPE:.*]] = graph.constant dense<[2, 16]> : tensor<2xi64>
# CHECK-DAG: %[[EMB:.*]] = ml_program.global_load_const @emb
# CHECK-DAG: %[[BIAS:.*]] = ml_program.global_load_const @bias
# CHECK: %[[H:.*]] = graph.gather %[[EMB]], %[[IDS]] {axis = 0 : i64} : (tensor<10x8xf32>, tensor<2x16xi64>) -> tensor<2x16x8xf32>
# CHECK: %[[EXP:.*]] = graph.expand %[[BIAS]], %[[SHAPE]] : (tensor<1x1xf32>, tensor<2xi64>) -> tensor<2x16xf32>
# CHECK: %[[PP:.*]] = graph.add %[[POS]], %[[EXP]] : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
# CHECK: %[[RT:.*]] = graph.transpose %[[H]] {perm = array<i64: 0, 2, 1>} : (tensor<2x16x8xf32>) -> tensor<2x8x16xf32>
# The reshape to [-1, seq, 8] folds away: r is h itself.
# CHECK-NOT: ?
# CHECK: return %[[H]], %[[POSITIONS]], %[[ZEROS]], %[[PP]], %[[RT]] : tensor<2x16x8xf32>, tensor<16xi64>, tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x8x16xf32>
