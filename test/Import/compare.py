# Comparisons give i1 with broadcasting; logic ops take i1; Where selects.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Equal", ["a", "b"], ["eq"]),
    node("Less", ["a", "b"], ["lt"]),
    node("LessOrEqual", ["a", "b"], ["le"]),
    node("Greater", ["a", "b"], ["gt"]),
    node("GreaterOrEqual", ["a", "b"], ["ge"]),
    node("And", ["eq", "lt"], ["and"]),
    node("Or", ["p", "q"], ["or"]),
    node("Not", ["p"], ["not"]),
    node("Xor", ["p", "q"], ["xor"]),
    node("Where", ["lt", "a", "zero"], ["where"]),
    node("Equal", ["i", "j"], ["ieq"]),
],
    inputs=[("a", "f32", ["n", 4]), ("b", "f32", [4]), ("p", "bool", [2, 1]),
            ("q", "bool", [3]), ("i", "i64", ["s"]), ("j", "i64", [1])],
    outputs=["eq", "lt", "le", "gt", "ge", "and", "or", "not", "xor", "where", "ieq"],
    initializers=[const("zero", np.float32(0))])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<?x4xf32>
# CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<4xf32>
# CHECK-SAME: %[[P:[a-z0-9]+]]: tensor<2x1xi1> {graph.onnx_name = "p"}
# CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<3xi1>
# CHECK-SAME: %[[I:[a-z0-9]+]]: tensor<?xi64>
# CHECK-SAME: %[[J:[a-z0-9]+]]: tensor<1xi64>
# CHECK: %[[ZERO:.*]] = graph.constant dense<0.000000e+00> : tensor<f32>
# CHECK: %[[EQ:.*]] = graph.equal %[[A]], %[[B]] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
# CHECK: %[[LT:.*]] = graph.less %[[A]], %[[B]] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
# CHECK: %[[LE:.*]] = graph.less_equal %[[A]], %[[B]] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
# CHECK: %[[GT:.*]] = graph.greater %[[A]], %[[B]] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
# CHECK: %[[GE:.*]] = graph.greater_equal %[[A]], %[[B]] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xi1>
# CHECK: %[[AND:.*]] = graph.and %[[EQ]], %[[LT]] : (tensor<?x4xi1>, tensor<?x4xi1>) -> tensor<?x4xi1>
# CHECK: %[[OR:.*]] = graph.or %[[P]], %[[Q]] : (tensor<2x1xi1>, tensor<3xi1>) -> tensor<2x3xi1>
# CHECK: %[[NOT:.*]] = graph.not %[[P]] : tensor<2x1xi1>
# CHECK: %[[XOR:.*]] = graph.xor %[[P]], %[[Q]] : (tensor<2x1xi1>, tensor<3xi1>) -> tensor<2x3xi1>
# CHECK: %[[WHERE:.*]] = graph.where %[[LT]], %[[A]], %[[ZERO]] : (tensor<?x4xi1>, tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
# CHECK: %[[IEQ:.*]] = graph.equal %[[I]], %[[J]] : (tensor<?xi64>, tensor<1xi64>) -> tensor<?xi1>
# CHECK: return %[[EQ]], %[[LT]], %[[LE]], %[[GT]], %[[GE]], %[[AND]], %[[OR]], %[[NOT]], %[[XOR]], %[[WHERE]], %[[IEQ]] :
