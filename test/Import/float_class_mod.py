# IsNaN, IsInf, Mod, Floor and Ceil, and their folding on constants.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

nodes = [
    node("IsNaN", ["x"], ["nan"]),
    node("IsInf", ["x"], ["inf"]),
    node("IsInf", ["x"], ["neginf"], detect_positive=0),
    node("Mod", ["i", "j"], ["imod"]),
    node("Mod", ["x", "x"], ["fmod"], fmod=1),
    node("Floor", ["x"], ["floor"]),
    node("Ceil", ["x"], ["ceil"]),
    # Folded: the sign of an integer Mod follows the divisor, fmod the dividend.
    node("Mod", ["ci", "cj"], ["cmod"]),
    node("Mod", ["ci", "cj"], ["cfmod"], fmod=1),
    node("Constant", [], ["cf"], value=numpy_helper.from_array(
        np.array([1.5, np.nan, -0.5], dtype=np.float32), "cf")),
    node("IsNaN", ["cf"], ["cnan"]),
    node("Floor", ["cf"], ["cfloor"]),
]
save(nodes,
     inputs=[("x", "f32", ["batch", 8]), ("i", "i64", [3]), ("j", "i64", [1])],
     outputs=[("nan", "bool", None), ("inf", "bool", None), ("neginf", "bool", None),
              ("imod", "i64", None), "fmod", "floor", "ceil", ("cmod", "i64", None),
              ("cfmod", "i64", None), ("cnan", "bool", None), "cfloor"],
     initializers=[const("ci", [-7, 7, -6], "int64"), const("cj", [3, -3, 3], "int64")],
     opset=18)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x8xf32>
# CHECK-SAME: %[[I:[a-z0-9]+]]: tensor<3xi64>
# CHECK-SAME: %[[J:[a-z0-9]+]]: tensor<1xi64>
# CHECK-DAG: %[[CMOD:.*]] = graph.constant dense<[2, -2, 0]> : tensor<3xi64>
# CHECK-DAG: %[[CFMOD:.*]] = graph.constant dense<[-1, 1, 0]> : tensor<3xi64>
# CHECK-DAG: %[[CNAN:.*]] = graph.constant dense<[false, true, false]> : tensor<3xi1>
# CHECK-DAG: %[[NAN:.*]] = graph.is_nan %[[X]] : (tensor<?x8xf32>) -> tensor<?x8xi1>
# CHECK-DAG: %[[INF:.*]] = graph.is_inf %[[X]] : (tensor<?x8xf32>) -> tensor<?x8xi1>
# CHECK-DAG: %[[NEGINF:.*]] = graph.is_inf %[[X]] {detect_positive = false} : (tensor<?x8xf32>) -> tensor<?x8xi1>
# CHECK-DAG: %[[IMOD:.*]] = graph.mod %[[I]], %[[J]] : (tensor<3xi64>, tensor<1xi64>) -> tensor<3xi64>
# CHECK-DAG: %[[FMOD:.*]] = graph.fmod %[[X]], %[[X]] : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
# CHECK-DAG: %[[FLOOR:.*]] = graph.floor %[[X]] : tensor<?x8xf32>
# CHECK-DAG: %[[CEIL:.*]] = graph.ceil %[[X]] : tensor<?x8xf32>
# CHECK-DAG: %[[CFLOOR:.*]] = graph.constant dense<[1.000000e+00, 0x7FC00000, -1.000000e+00]> : tensor<3xf32>
# CHECK: return %[[NAN]], %[[INF]], %[[NEGINF]], %[[IMOD]], %[[FMOD]], %[[FLOOR]], %[[CEIL]], %[[CMOD]], %[[CFMOD]], %[[CNAN]], %[[CFLOOR]] :
