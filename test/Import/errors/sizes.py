# Values that cannot be real: sizes past any memory, out-of-range indices, a
# value name defined twice. One line, exit 1, never a silently wrong module.
# RUN: %python %s %t
# RUN: %exit1 sp-compile --emit=mlir %t.huge_init.onnx | FileCheck %s --check-prefix=HUGE-INIT
# HUGE-INIT: {{^}}sp-compile: error: {{.*}}.huge_init.onnx: tensor 'w' of shape [2147483648, 2147483648] is too large{{$}}
# RUN: %exit1 sp-compile --emit=mlir %t.huge_range.onnx | FileCheck %s --check-prefix=HUGE-RANGE
# HUGE-RANGE: {{^}}sp-compile: error: {{.*}}.huge_range.onnx: node 'r' (Range, opset 17): result of shape [4611686018427387904] is too large{{$}}
# RUN: %exit1 sp-compile --emit=mlir %t.huge_fill.onnx | FileCheck %s --check-prefix=HUGE-FILL
# HUGE-FILL: {{^}}sp-compile: error: {{.*}}.huge_fill.onnx: node 'fill' (ConstantOfShape, opset 17): result of shape [1099511627776, 1099511627776] is too large{{$}}
# RUN: %exit1 sp-compile --emit=mlir %t.gather.onnx | FileCheck %s --check-prefix=GATHER
# GATHER: {{^}}sp-compile: error: {{.*}}.gather.onnx: node 'g' (Gather, opset 17): gather index 7 is out of range for axis 1 of size 4{{$}}
# RUN: %exit1 sp-compile --emit=mlir %t.twice.onnx | FileCheck %s --check-prefix=TWICE
# TWICE: {{^}}sp-compile: error: {{.*}}.twice.onnx: node 'second' (Neg, opset 17): output 'y' is already defined by an earlier node, graph input or initializer{{$}}
import sys
from onnx_test_builder import *

out = sys.argv[1]
X = [("x", "f32", ["batch", 4])]
huge = TensorProto()
huge.name, huge.data_type = "w", TensorProto.FLOAT
huge.dims.extend([2**31, 2**31])
save([node("Identity", ["w"], ["y"])], inputs=X, outputs=["y"], initializers=[huge],
     path=out + ".huge_init.onnx")
save([node("Range", ["zero", "limit", "one"], ["y"], name="r")], inputs=X, outputs=["y"],
     initializers=[const("zero", 0, np.int64), const("limit", 2**62, np.int64),
                   const("one", 1, np.int64)], path=out + ".huge_range.onnx")
save([node("ConstantOfShape", ["shape"], ["y"], name="fill")], inputs=X, outputs=["y"],
     initializers=[const("shape", [2**40, 2**40], np.int64)], path=out + ".huge_fill.onnx")
save([node("Gather", ["x", "idx"], ["y"], name="g", axis=1)], inputs=X, outputs=["y"],
     initializers=[const("idx", [7], np.int64)], path=out + ".gather.onnx")
save([node("Relu", ["x"], ["y"], name="first"), node("Neg", ["x"], ["y"], name="second")],
     inputs=X, outputs=["y"], path=out + ".twice.onnx")
