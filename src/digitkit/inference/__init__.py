"""Inference: loading, exporting, calibrating, evaluating and ensembling trained models.

- ``predictor``: loads any run directory, ensemble spec or shipped model (torch, onnxruntime
  or the NumPy runtime)
- ``sessions``: what runs an exported model (onnxruntime, or the NumPy runtime without it)
- ``numpy_runtime``: the shipped models in NumPy, from their pinned weights
- ``numpy_ops``: convolution, pooling and batch-norm folding in NumPy (also the scratch
  engine's)
- ``ensemble``: the loadable ensemble of members
- ``ensemble_build``: building an ensemble spec from runs
- ``export``: ONNX and int8 export of a run
- ``calibrate``: temperature and refusal calibration
- ``evaluate``: evaluation reports (metrics, confusion matrices, error figures)
"""
