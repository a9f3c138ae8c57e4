"""Model zoo: importing this package registers every architecture (see ``registry``)."""

from digitkit.models import classic  # noqa: F401  (registers the classic models)
from digitkit.models.registry import MODELS, ModelSpec, build_model, count_params, get_spec

__all__ = ["MODELS", "ModelSpec", "build_model", "count_params", "get_spec"]
