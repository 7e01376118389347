"""From a trained checkpoint to fast inference: ONNX export, TensorRT engines, and the backends."""
