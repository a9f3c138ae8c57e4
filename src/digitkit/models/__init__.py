"""Model zoo. Architectures register themselves in ``registry``; look them up with
``get_spec``/``build_model``/``all_specs`` (the zoo modules load on first use)."""

from digitkit.models.registry import (
    ModelSpec,
    all_specs,
    build_model,
    count_params,
    get_spec,
    register,
)

__all__ = ["ModelSpec", "all_specs", "build_model", "count_params", "get_spec", "register"]
