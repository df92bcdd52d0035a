# A model whose weight `w` (8x16 f32) is external data at the location given
# verbatim on the command line, for the tests of where external data may be.
import sys
from onnx_test_builder import *

path, location = sys.argv[1], sys.argv[2]
w = const("w", np.ones((8, 16), np.float32))
w.ClearField("raw_data")
w.data_location = TensorProto.EXTERNAL
entry = w.external_data.add()
entry.key, entry.value = "location", location
save([node("MatMul", ["x", "w"], ["y"])], inputs=[("x", "f32", ["batch", 8])],
     outputs=["y"], initializers=[w], path=path)
