# Element-wise arithmetic: Add Sub Mul Div Pow Max Min Sum, with broadcasting
# over static and dynamic dims; printed IR must round-trip through sp-opt.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Add", ["x", "row"], ["add"]),
    node("Sub", ["x", "col"], ["sub"]),
    node("Mul", ["x", "y"], ["mul"]),
    node("Div", ["x", "two"], ["div"]),
    node("Pow", ["x", "two"], ["pow"]),
    node("Max", ["x", "row", "col"], ["max"]),
    node("Min", ["x"], ["min"]),
    node("Sum", ["x", "y", "row"], ["sum"]),
    node("Add", ["i", "j"], ["iadd"]),
    node("Mul", ["x", "z"], ["mul3"]),
],
    inputs=[("x", "f32", ["batch", "seq", 4]), ("y", "f32", ["batch", 1, 4]),
            ("z", "f32", [3, 1, 1, 1]),
            ("col", "f32", ["seq", 1]), ("i", "i64", [2, 1]), ("j", "i64", [5])],
    outputs=["add", "sub", "mul", "div", "pow", "max", "min", "sum", "iadd", "mul3"],
    initializers=[const("row", np.arange(4, dtype=np.float32)),
                  const("two", np.float32(2.0))])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x4xf32> {graph.dim_names = ["batch", "seq", ""], graph.onnx_name = "x"}
# CHECK-SAME: %[[Y:[a-z0-9]+]]: tensor<?x1x4xf32>
# CHECK-SAME: %[[Z:[a-z0-9]+]]: tensor<3x1x1x1xf32>
# CHECK-SAME: %[[COL:[a-z0-9]+]]: tensor<?x1xf32>
# CHECK-SAME: %[[I:[a-z0-9]+]]: tensor<2x1xi64>
# CHECK-SAME: %[[J:[a-z0-9]+]]: tensor<5xi64>
# CHECK-DAG: %[[ROW:.*]] = ml_program.global_load_const @row : tensor<4xf32>
# CHECK-DAG: %[[TWO:.*]] = graph.constant dense<2.000000e+00> : tensor<f32>
# CHECK: %[[ADD:.*]] = graph.add %[[X]], %[[ROW]] : (tensor<?x?x4xf32>, tensor<4xf32>) -> tensor<?x?x4xf32>
# CHECK: %[[SUB:.*]] = graph.sub %[[X]], %[[COL]] : (tensor<?x?x4xf32>, tensor<?x1xf32>) -> tensor<?x?x4xf32>
# CHECK: %[[MUL:.*]] = graph.mul %[[X]], %[[Y]] : (tensor<?x?x4xf32>, tensor<?x1x4xf32>) -> tensor<?x?x4xf32>
# CHECK: %[[DIV:.*]] = graph.div %[[X]], %[[TWO]] : (tensor<?x?x4xf32>, tensor<f32>) -> tensor<?x?x4xf32>
# CHECK: %[[POW:.*]] = graph.pow %[[X]], %[[TWO]] : (tensor<?x?x4xf32>, tensor<f32>) -> tensor<?x?x4xf32>
# Max of three inputs is a chain of two binary ops.
# CHECK: %[[MAX0:.*]] = graph.max %[[X]], %[[ROW]] : (tensor<?x?x4xf32>, tensor<4xf32>) -> tensor<?x?x4xf32>
# CHECK: %[[MAX:.*]] = graph.max %[[MAX0]], %[[COL]] : (tensor<?x?x4xf32>, tensor<?x1xf32>) -> tensor<?x?x4xf32>
# Min of one input is the input itself; Sum is a chain of adds.
# CHECK-NOT: graph.min
# CHECK: %[[SUM0:.*]] = graph.add %[[X]], %[[Y]] : (tensor<?x?x4xf32>, tensor<?x1x4xf32>) -> tensor<?x?x4xf32>
# CHECK: %[[SUM:.*]] = graph.add %[[SUM0]], %[[ROW]] : (tensor<?x?x4xf32>, tensor<4xf32>) -> tensor<?x?x4xf32>
# CHECK: %[[IADD:.*]] = graph.add %[[I]], %[[J]] : (tensor<2x1xi64>, tensor<5xi64>) -> tensor<2x5xi64>
# CHECK: %[[MUL3:.*]] = graph.mul %[[X]], %[[Z]] : (tensor<?x?x4xf32>, tensor<3x1x1x1xf32>) -> tensor<3x?x?x4xf32>
# CHECK: return %[[ADD]], %[[SUB]], %[[MUL]], %[[DIV]], %[[POW]], %[[MAX]], %[[X]], %[[SUM]], %[[IADD]], %[[MUL3]] :
