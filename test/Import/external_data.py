# Weights stored as external data (a .data file beside the model) load into
# ml_program globals with the same bytes as inline weights.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t/model.onnx
# RUN: test -f %t/model.onnx.data
# RUN: sp-compile %t/model.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t/model.onnx --emit=mlir | sp-opt | FileCheck %s
import sys
from onnx_test_builder import *

save([node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "bias"], ["y"])],
     inputs=[("x", "f32", ["batch", 2])], outputs=["y"],
     initializers=[const("w", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32),
                   const("bias", [0.5, -0.5, 1.0], np.float32)],
     external_data=True)
# The weights must not be inline in the .onnx file.
model = onnx.load(sys.argv[1], load_external_data=False)
assert all(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)

# CHECK-DAG: ml_program.global private @w(dense_resource<w> : tensor<2x3xf32>) : tensor<2x3xf32>
# CHECK-DAG: ml_program.global private @bias(dense_resource<bias> : tensor<3xf32>) : tensor<3xf32>
# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x2xf32>
# CHECK-DAG: %[[W:.*]] = ml_program.global_load_const @w : tensor<2x3xf32>
# CHECK-DAG: %[[B:.*]] = ml_program.global_load_const @bias : tensor<3xf32>
# CHECK: %[[H:.*]] = graph.matmul %[[X]], %[[W]] : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
# CHECK: %[[Y:.*]] = graph.add %[[H]], %[[B]] : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
# CHECK: return %[[Y]] : tensor<?x3xf32>
# The blobs hold the weights' bytes read from the .data file, after the
# 4-byte alignment header (8): 1..6 and 0.5, -0.5, 1 as little-endian f32.
# CHECK: dialect_resources
# CHECK-DAG: w: "0x080000000000803F0000004000004040000080400000A0400000C040"
# CHECK-DAG: bias: "0x080000000000003F000000BF0000803F"
