"""Reads an ONNX file written by `harness export onnx` with the real readers.

Usage: export_onnx.py MODEL IMAGES LOGITS N

IMAGES holds N normalised images (float32, little-endian, [N, 1, 28, 28]) and LOGITS the
harness network's eval-mode logits for them (float32 [N, 10]). Prints one JSON object:
what `onnx.checker` said, the graph's input and output, the metadata, ONNX Runtime's
logits compared with ours, and ONNX Runtime's top-1 classes.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, images_path, logits_path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
images = np.fromfile(images_path, dtype="<f4").reshape(n, 1, 28, 28)
ours = np.fromfile(logits_path, dtype="<f4").reshape(n, 10)
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
inputs, outputs = session.get_inputs(), session.get_outputs()
# Two batch sizes through the same session: the batch dimension is dynamic.
theirs = np.concatenate(
    [session.run(None, {inputs[0].name: images[:1]})[0],
     session.run(None, {inputs[0].name: images[1:]})[0]]
)
print(json.dumps({
    "checker": "ok",
    "opset": [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")],
    "input": [inputs[0].name, [str(d) for d in inputs[0].shape]],
    "output": [outputs[0].name, [str(d) for d in outputs[0].shape]],
    "metadata": session.get_modelmeta().custom_metadata_map,
    "max_abs_diff": float(np.abs(theirs - ours).max()),
    "scale": float(np.abs(ours).max()),
    "top1": theirs.argmax(axis=1).tolist(),
}))
