# CumSum: axis from a constant input (negative too), exclusive and reverse.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("CumSum", ["x", "one"], ["c"]),
    node("CumSum", ["x", "minus_one"], ["c_ex_rev"], exclusive=1, reverse=1),
    node("CumSum", ["i", "zero32"], ["ci"]),
],
    inputs=[("x", "f32", ["batch", "seq"]), ("i", "i64", [5])],
    outputs=["c", "c_ex_rev", "ci"],
    initializers=[const("one", 1, np.int64), const("minus_one", -1, np.int64),
                  const("zero32", 0, np.int32)])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?xf32>
# CHECK-SAME: %[[I:[a-z0-9]+]]: tensor<5xi64>
# CHECK: %[[C:.*]] = graph.cumsum %[[X]] {axis = 1 : i64} : tensor<?x?xf32>
# CHECK: %[[CER:.*]] = graph.cumsum %[[X]] {axis = -1 : i64, exclusive = true, reverse = true} : tensor<?x?xf32>
# CHECK: %[[CI:.*]] = graph.cumsum %[[I]] {axis = 0 : i64} : tensor<5xi64>
# CHECK: return %[[C]], %[[CER]], %[[CI]] :
