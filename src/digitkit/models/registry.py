"""The model registry: every architecture is a builder function registered under a name.

The zoo grows by adding a module with ``@register(...)`` builders and importing it in
``digitkit.models.__init__``; the trainer never changes. A builder takes keyword arguments
(with defaults) and returns a ``torch.nn.Module`` mapping (N, 1, S, S) inputs to (N, 10) logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from digitkit.errors import DigitkitError


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture.

    ``input_pad`` pads 28x28 images to the size the architecture expects (2 -> 32x32);
    ``recipe`` names the default training recipe; ``engine`` is ``torch`` or ``numpy``.
    """

    name: str
    builder: Callable[..., Any]
    description: str
    recipe: str
    input_pad: int = 0
    normalization: str | None = None  # overrides the recipe's normalization when set
    engine: str = "torch"
    family: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {}


def register(
    name: str, *, description: str, recipe: str, input_pad: int = 0,
    normalization: str | None = None, engine: str = "torch", family: str = "",
    **defaults: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``builder`` under ``name`` (unique)."""

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        MODELS[name] = ModelSpec(name, builder, description, recipe, input_pad, normalization,
                                 engine, family or builder.__module__.rsplit(".", 1)[-1], defaults)
        return builder

    return wrap


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name``; a clear error lists the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise DigitkitError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))} "
            "(see 'digitkit models')"
        ) from None


def build_model(name: str, **kwargs: Any) -> Any:
    """Build the architecture ``name`` with its defaults overridden by ``kwargs``."""
    spec = get_spec(name)
    if spec.engine != "torch":
        raise DigitkitError(f"model {name!r} belongs to the {spec.engine} engine")
    return spec.builder(**{**spec.defaults, **kwargs})


def count_params(module: Any) -> int:
    """Number of trainable parameters of a torch module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
