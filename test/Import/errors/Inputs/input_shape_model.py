from onnx_test_builder import *
save([node("Relu", ["mask"], ["y"])], inputs=[("ids", "i64", ["batch", "seq"]),
      ("mask", "f32", ["batch", "seq", 4])], outputs=["y"])
