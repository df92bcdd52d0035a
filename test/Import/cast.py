# Cast to the type in `to`; CastLike to the element type of its second input.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Cast", ["x"], ["to_i64"], to=TensorProto.INT64),
    node("Cast", ["x"], ["to_f16"], to=TensorProto.FLOAT16),
    node("Cast", ["x"], ["to_bool"], to=TensorProto.BOOL),
    node("Cast", ["m"], ["m_f32"], to=TensorProto.FLOAT),
    node("Cast", ["x"], ["to_bf16"], to=TensorProto.BFLOAT16),
    node("CastLike", ["m", "like"], ["like_f64"]),
    node("Cast", ["x"], ["same"], to=TensorProto.FLOAT),
],
    inputs=[("x", "f32", ["batch", 3]), ("m", "bool", [2, "s"]), ("like", "f64", [7])],
    outputs=["to_i64", "to_f16", "to_bool", "m_f32", "to_bf16", "like_f64", "same"],
    opset=19)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x3xf32>
# CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<2x?xi1>
# CHECK-SAME: %[[LIKE:[a-z0-9]+]]: tensor<7xf64>
# CHECK: %[[I64:.*]] = graph.cast %[[X]] : tensor<?x3xf32> -> tensor<?x3xi64>
# CHECK: %[[F16:.*]] = graph.cast %[[X]] : tensor<?x3xf32> -> tensor<?x3xf16>
# CHECK: %[[BOOL:.*]] = graph.cast %[[X]] : tensor<?x3xf32> -> tensor<?x3xi1>
# CHECK: %[[MF32:.*]] = graph.cast %[[M]] : tensor<2x?xi1> -> tensor<2x?xf32>
# CHECK: %[[BF16:.*]] = graph.cast %[[X]] : tensor<?x3xf32> -> tensor<?x3xbf16>
# CHECK: %[[LIKEF64:.*]] = graph.cast %[[M]] : tensor<2x?xi1> -> tensor<2x?xf64>
# A cast to the same type folds away.
# CHECK-NOT: graph.cast
# CHECK: return %[[I64]], %[[F16]], %[[BOOL]], %[[MF32]], %[[BF16]], %[[LIKEF64]], %[[X]] :
