"""Inference: loading, exporting, calibrating, evaluating and ensembling trained models.

- ``predictor``: loads any run directory, ensemble spec or shipped model (torch or onnxruntime)
- ``ensemble``: the loadable ensemble of members
- ``ensemble_build``: building an ensemble spec from runs
- ``export``: ONNX and int8 export of a run
- ``calibrate``: temperature and refusal calibration
- ``evaluate``: evaluation reports (metrics, confusion matrices, error figures)
"""
