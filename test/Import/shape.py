# Shape computations on dynamic dims: Shape (start/end), Range,
# ConstantOfShape, Reshape (0, -1, allowzero), Expand, Unsqueeze/Squeeze.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Shape", ["x"], ["shape"]),
    node("Shape", ["x"], ["shape_1_2"], start=1, end=2),
    node("Shape", ["x"], ["shape_last"], start=-1),
    node("Gather", ["shape", "idx1"], ["seq"]),                     # scalar i64
    node("Range", ["zero", "seq", "one"], ["range"]),
    node("ConstantOfShape", ["shape_1_2"], ["zeros"]),
    node("ConstantOfShape", ["shape"], ["ones"],
         value=numpy_helper.from_array(np.array([1], np.int64))),
    node("Reshape", ["x", "keep_flat"], ["reshaped"]),              # [0, -1]
    node("Reshape", ["x", "static_shape"], ["reshaped2"]),          # [2, -1, 4]
    node("Reshape", ["e", "zero_dims"], ["allowzero"], allowzero=1),  # [0, 3]
    node("Expand", ["b", "shape"], ["expanded"]),
    node("Unsqueeze", ["x", "axes_0_neg1"], ["unsq"]),
    node("Squeeze", ["s", "axes_1"], ["sq"]),
    node("Squeeze", ["s"], ["sq_all"]),
],
    inputs=[("x", "f32", ["batch", "seq", 8]), ("e", "f32", [0, 3]),
            ("b", "f32", [1, 1, 8]), ("s", "f32", [4, 1, 1])],
    outputs=["shape", "shape_1_2", "shape_last", "range", "zeros", "ones", "reshaped",
             "reshaped2", "allowzero", "expanded", "unsq", "sq", "sq_all"],
    initializers=[const("idx1", 1, np.int64), const("zero", 0, np.int64),
                  const("one", 1, np.int64), const("keep_flat", [0, -1], np.int64),
                  const("static_shape", [2, -1, 4], np.int64),
                  const("zero_dims", [0, 3], np.int64),
                  const("axes_0_neg1", [0, -1], np.int64), const("axes_1", [1], np.int64)])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x8xf32>
# CHECK-SAME: %[[E:[a-z0-9]+]]: tensor<{{0|\?}}x3xf32>
# CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<1x1x8xf32>
# CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<4x1x1xf32>
# CHECK-SAME: -> (tensor<3xi64> {graph.onnx_name = "shape"}, tensor<1xi64> {graph.onnx_name = "shape_1_2"}, tensor<1xi64> {graph.onnx_name = "shape_last"}, tensor<?xi64> {graph.onnx_name = "range"}, tensor<?xf32> {graph.onnx_name = "zeros"}, tensor<?x?x8xi64> {graph.onnx_name = "ones"}, tensor<?x?xf32> {graph.onnx_name = "reshaped"}, tensor<2x?x4xf32> {graph.onnx_name = "reshaped2"}, tensor<0x3xf32> {graph.onnx_name = "allowzero"}, tensor<?x?x8xf32> {graph.onnx_name = "expanded"}, tensor<1x?x?x8x1xf32> {graph.onnx_name = "unsq"}, tensor<4x1xf32> {graph.onnx_name = "sq"}, tensor<4xf32> {graph.onnx_name = "sq_all"})
# The static last dim folds: Shape(start=-1) of ?x?x8 is the constant [8].
# CHECK-DAG: %[[LAST:.*]] = graph.constant dense<8> : tensor<1xi64>
# CHECK-DAG: %[[ONE:.*]] = graph.constant dense<1> : tensor<i64>
# CHECK-DAG: %[[ZERO:.*]] = graph.constant dense<0> : tensor<i64>
# CHECK-DAG: %[[KEEPFLAT:.*]] = graph.constant dense<[0, -1]> : tensor<2xi64>
# CHECK-DAG: %[[STATIC:.*]] = graph.constant dense<[2, -1, 4]> : tensor<3xi64>
# CHECK: %[[SHAPE:.*]] = graph.shape %[[X]] : (tensor<?x?x8xf32>) -> tensor<3xi64>
# CHECK: %[[SHAPE12:.*]] = graph.shape %[[X]] {end = 2 : i64, start = 1 : i64} : (tensor<?x?x8xf32>) -> tensor<1xi64>
# CHECK: %[[SEQ:.*]] = graph.gather %[[SHAPE]], %[[ONE]] {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
# CHECK: %[[RANGE:.*]] = graph.range %[[ZERO]], %[[SEQ]], %[[ONE]] : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
# ConstantOfShape defaults to a float 0.
# CHECK: %[[ZEROS:.*]] = graph.constant_of_shape %[[SHAPE12]] {value = dense<0.000000e+00> : tensor<1xf32>} : (tensor<1xi64>) -> tensor<?xf32>
# CHECK: %[[ONES:.*]] = graph.constant_of_shape %[[SHAPE]] {value = dense<1> : tensor<1xi64>} : (tensor<3xi64>) -> tensor<?x?x8xi64>
# CHECK: %[[R1:.*]] = graph.reshape %[[X]], %[[KEEPFLAT]] : (tensor<?x?x8xf32>, tensor<2xi64>) -> tensor<?x?xf32>
# CHECK: %[[R2:.*]] = graph.reshape %[[X]], %[[STATIC]] : (tensor<?x?x8xf32>, tensor<3xi64>) -> tensor<2x?x4xf32>
# With allowzero a 0 in the shape is a real 0, not "copy the input dim".
# CHECK: %[[EXP:.*]] = graph.expand %[[B]], %[[SHAPE]] : (tensor<1x1x8xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
# Negative axes count from the end of the result.
# CHECK: %[[UNSQ:.*]] = graph.unsqueeze %[[X]] {axes = array<i64: 0, 4>} : (tensor<?x?x8xf32>) -> tensor<1x?x?x8x1xf32>
# CHECK: %[[SQ:.*]] = graph.squeeze %[[S]] {axes = array<i64: 1>} : (tensor<4x1x1xf32>) -> tensor<4x1xf32>
# Squeeze without axes drops every unit dim of a static shape.
# CHECK: %[[SQALL:.*]] = graph.squeeze %[[S]] {axes = array<i64: 1, 2>} : (tensor<4x1x1xf32>) -> tensor<4xf32>
# With allowzero, a static [0, 3] input reshaped to [0, 3] is the input itself.
# CHECK: return %[[SHAPE]], %[[SHAPE12]], %[[LAST]], %[[RANGE]], %[[ZEROS]], %[[ONES]], %[[R1]], %[[R2]], %[[E]], %[[EXP]], %[[UNSQ]], %[[SQ]], %[[SQALL]] :
