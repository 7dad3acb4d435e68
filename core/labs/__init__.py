"""The course labs' extra pieces: TensorBoard and ONNX export, losses and optimizer steps to explore."""
