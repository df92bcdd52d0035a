# Node definitions against ONNX's schema registry: a definition sp does not
# implement names the one it would need; attributes of the wrong type, unknown
# or missing are refused; half-precision compute planned for the CPU is refused
# at compile time (its kernels would refuse it at run time; --emit=mlir takes
# it). One line, exit 1.
# RUN: %python %s %t
# RUN: %exit1 sp-compile %t.dropout10.onnx --emit=mlir | FileCheck %s --check-prefix=DROPOUT10
# DROPOUT10: {{^}}sp-compile: error: {{.*}}.dropout10.onnx: node 'drop' (Dropout, opset 10): opset 10 defines Dropout as Dropout-10, which is not supported; sp implements Dropout-12 and later (opset 12 or newer){{$}}
# RUN: %exit1 sp-compile %t.add6.onnx --emit=mlir | FileCheck %s --check-prefix=ADD6
# ADD6: {{^}}sp-compile: error: {{.*}}.add6.onnx: node 'y' (Add, opset 6): opset 6 defines Add as Add-6, which is not supported; sp implements Add-7 and later (opset 7 or newer){{$}}
# RUN: %exit1 sp-compile %t.gelu17.onnx --emit=mlir | FileCheck %s --check-prefix=GELU17
# GELU17: {{^}}sp-compile: error: {{.*}}.gelu17.onnx: node 'y' (Gelu, opset 17): ONNX defines Gelu only from opset 20 on{{$}}
# RUN: %exit1 sp-compile %t.axis_string.onnx --emit=mlir | FileCheck %s --check-prefix=AXIS
# AXIS: {{^}}sp-compile: error: {{.*}}.axis_string.onnx: node 'sm' (Softmax, opset 17): attribute 'axis' is STRING but Softmax-13 defines it as INT{{$}}
# RUN: %exit1 sp-compile %t.unknown.onnx --emit=mlir | FileCheck %s --check-prefix=UNKNOWN
# UNKNOWN: {{^}}sp-compile: error: {{.*}}.unknown.onnx: node 'y' (Relu, opset 17): attribute 'alpha' is not defined for Relu-14{{$}}
# RUN: %exit1 sp-compile %t.cast_to.onnx --emit=mlir | FileCheck %s --check-prefix=CASTTO
# CASTTO: {{^}}sp-compile: error: {{.*}}.cast_to.onnx: node 'y' (Cast, opset 21): required attribute 'to' of Cast-21 is missing{{$}}
# RUN: %exit1 sp-compile %t.saturate.onnx --emit=mlir | FileCheck %s --check-prefix=SATURATE
# SATURATE: {{^}}sp-compile: error: {{.*}}.saturate.onnx: node 'y' (Cast, opset 19): attribute 'saturate' is FLOAT but Cast-19 defines it as INT{{$}}
# RUN: %exit1 sp-compile %t.half_max.onnx -o %t.half_max.spplan | FileCheck %s --check-prefix=HALFMAX
# HALFMAX: {{^}}sp-compile: error: {{.*}}.half_max.onnx: node 'y' (Max, opset 17): input 'a' is f16; sp's CPU kernels compute Max in f32, f64, i32, i64 and i1 only (bf16 through --precision=bf16 on an f32 model){{$}}
# RUN: %exit1 sp-compile %t.cast_bf16.onnx -o %t.cast_bf16.spplan | FileCheck %s --check-prefix=CASTBF16
# CASTBF16: {{^}}sp-compile: error: {{.*}}.cast_bf16.onnx: node 'y' (Cast, opset 17): the result is bf16; sp's CPU kernels compute Cast in f32, f64, i32, i64 and i1 only (bf16 through --precision=bf16 on an f32 model){{$}}
import sys
from onnx_test_builder import *

out = sys.argv[1]
X = [("x", "f32", [2, 4])]
save([node("Dropout", ["x"], ["y"], name="drop")], inputs=X, outputs=["y"], opset=10,
     path=out + ".dropout10.onnx")
save([node("Add", ["x", "x"], ["y"])], inputs=X, outputs=["y"], opset=6,
     path=out + ".add6.onnx")
save([node("Gelu", ["x"], ["y"])], inputs=X, outputs=["y"], path=out + ".gelu17.onnx")
save([node("Softmax", ["x"], ["y"], name="sm", axis="1")], inputs=X, outputs=["y"],
     path=out + ".axis_string.onnx")
save([node("Relu", ["x"], ["y"], alpha=0.5)], inputs=X, outputs=["y"],
     path=out + ".unknown.onnx")
save([node("Cast", ["x"], ["y"])], inputs=X, outputs=["y"], opset=21,
     path=out + ".cast_to.onnx")
save([node("Cast", ["x"], ["y"], to=TensorProto.DOUBLE, saturate=1.0)], inputs=X,
     outputs=["y"], opset=19, path=out + ".saturate.onnx")
save([node("Max", ["a", "a"], ["y"])], inputs=[("a", "f16", [2, 4])], outputs=["y"],
     path=out + ".half_max.onnx")
save([node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)], inputs=X, outputs=["y"],
     path=out + ".cast_bf16.onnx")
