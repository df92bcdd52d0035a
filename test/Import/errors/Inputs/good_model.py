# A small valid model (MatMul + Add with weights) for the error tests to
# damage; with --external, the weights go to a .data file beside it.
import sys
from onnx_test_builder import *

save([node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "bias"], ["y"])],
     inputs=[("x", "f32", ["batch", 8])], outputs=["y"],
     initializers=[const("w", np.ones((8, 16), np.float32)),
                   const("bias", np.zeros(16, np.float32))],
     external_data="--external" in sys.argv)
