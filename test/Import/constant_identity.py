# Constant (value, value_float(s), value_int(s)); Identity; Dropout in
# inference mode, with and without its mask output.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Constant", [], ["c_tensor"],
         value=numpy_helper.from_array(np.array([[1, 2], [3, 4]], np.int32))),
    node("Constant", [], ["c_float"], value_float=0.5),
    node("Constant", [], ["c_floats"], value_floats=[1.0, -2.5]),
    node("Constant", [], ["c_int"], value_int=7),
    node("Constant", [], ["c_ints"], value_ints=[3, -1, 4]),
    node("Identity", ["x"], ["ident"]),
    node("Dropout", ["x", "ratio"], ["drop"]),
    node("Dropout", ["x", "ratio", "training"], ["drop2", "mask"]),
    node("Add", ["drop2", "c_float"], ["plus_half"]),
],
    inputs=[("x", "f32", ["batch", 4])],
    outputs=["c_tensor", "c_float", "c_floats", "c_int", "c_ints", "ident", "drop",
             "drop2", "mask", "plus_half"],
    initializers=[const("ratio", np.float32(0.1)), const("training", False)])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x4xf32>
# CHECK-SAME: -> (tensor<2x2xi32> {graph.onnx_name = "c_tensor"}, tensor<f32> {graph.onnx_name = "c_float"}, tensor<2xf32> {graph.onnx_name = "c_floats"}, tensor<i64> {graph.onnx_name = "c_int"}, tensor<3xi64> {graph.onnx_name = "c_ints"}, tensor<?x4xf32> {graph.onnx_name = "ident"}, tensor<?x4xf32> {graph.onnx_name = "drop"}, tensor<?x4xf32> {graph.onnx_name = "drop2"}, tensor<?x4xi1> {graph.onnx_name = "mask"}, tensor<?x4xf32> {graph.onnx_name = "plus_half"})
# CHECK-DAG: %[[CT:.*]] = graph.constant dense<{{\[\[}}1, 2], [3, 4]]> : tensor<2x2xi32>
# CHECK-DAG: %[[CF:.*]] = graph.constant dense<5.000000e-01> : tensor<f32>
# CHECK-DAG: %[[CFS:.*]] = graph.constant dense<[1.000000e+00, -2.500000e+00]> : tensor<2xf32>
# CHECK-DAG: %[[CI:.*]] = graph.constant dense<7> : tensor<i64>
# CHECK-DAG: %[[CIS:.*]] = graph.constant dense<[3, -1, 4]> : tensor<3xi64>
# The mask of an inference Dropout is all true, of the input's shape.
# CHECK: %[[SHAPE:.*]] = graph.shape %[[X]] : (tensor<?x4xf32>) -> tensor<2xi64>
# CHECK: %[[MASK:.*]] = graph.constant_of_shape %[[SHAPE]] {value = dense<true> : tensor<1xi1>} : (tensor<2xi64>) -> tensor<?x4xi1>
# CHECK: %[[PLUS:.*]] = graph.add %[[X]], %[[CF]] : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
# Identity and Dropout return the input itself.
# CHECK: return %[[CT]], %[[CF]], %[[CFS]], %[[CI]], %[[CIS]], %[[X]], %[[X]], %[[X]], %[[MASK]], %[[PLUS]] :
