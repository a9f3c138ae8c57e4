"""The model registry: every architecture is a builder function registered under a name.

The zoo grows by adding a module with ``@register(...)`` builders and naming it in
``ZOO_MODULES``; the trainer never changes. A torch builder takes keyword arguments (with
defaults) and returns a ``torch.nn.Module`` mapping (N, 1, S, S) inputs to (N, 10) logits; a
``numpy`` builder returns a ``digitkit.scratch`` model. Specs are keyed by (engine, name), so
``lenet5`` exists for both engines. This module imports no torch; the zoo modules are imported
on first look-up.
"""

from __future__ import annotations

import importlib
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


# Modules whose import registers architectures, per engine. Add a module here to grow the zoo.
# Looking up a NumPy model imports only the NumPy zoo, so that engine never loads torch.
ZOO_MODULES: dict[str, tuple[str, ...]] = {
    "torch": (
        "digitkit.models.classic",
        "digitkit.models.mobilenet",
        "digitkit.models.vgg",
        "digitkit.models.resnet",
        "digitkit.models.wrn",
        "digitkit.models.simplecnn",
        "digitkit.models.sequence",
    ),
    "numpy": ("digitkit.scratch.zoo",),
}
ENGINES = tuple(ZOO_MODULES)

_MODELS: dict[tuple[str, str], ModelSpec] = {}
_loaded: set[str] = set()


def _load_zoo(engine: str | None = None) -> None:
    """Import the zoo modules of ``engine`` (all engines when None), once."""
    for eng in (engine,) if engine else ENGINES:
        if eng in _loaded or eng not in ZOO_MODULES:
            continue
        _loaded.add(eng)
        for module in ZOO_MODULES[eng]:
            importlib.import_module(module)


def all_specs(engine: str | None = None) -> list[ModelSpec]:
    """Every registered architecture (of ``engine`` if given), in registration order."""
    _load_zoo(engine)
    return [s for s in _MODELS.values() if engine is None or s.engine == engine]


def register(
    name: str,
    *,
    description: str,
    recipe: str,
    input_pad: int = 0,
    normalization: str | None = None,
    engine: str = "torch",
    family: str = "",
    **defaults: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``builder`` under ``name`` (unique)."""

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}")
        if (engine, name) in _MODELS:
            raise ValueError(f"model {name!r} ({engine}) registered twice")
        family_name = family or builder.__module__.rsplit(".", 1)[-1]
        _MODELS[(engine, name)] = ModelSpec(
            name,
            builder,
            description,
            recipe,
            input_pad,
            normalization,
            engine,
            family_name,
            defaults,
        )
        return builder

    return wrap


def get_spec(name: str, engine: str = "torch") -> ModelSpec:
    """The spec registered as ``name`` for ``engine``; a clear error lists the choices."""
    if engine not in ENGINES:
        raise DigitkitError(f"unknown engine {engine!r}; choose {' or '.join(ENGINES)}")
    _load_zoo(engine)
    spec = _MODELS.get((engine, name))
    if spec is not None:
        return spec
    _load_zoo()  # to say which engine has it
    others = [e for (e, n) in _MODELS if n == name]
    if others:
        raise DigitkitError(
            f"model {name!r} exists for the {others[0]} engine, not {engine} "
            f"(use --engine {others[0]})"
        )
    known = sorted({n for (e, n) in _MODELS if e == engine})
    raise DigitkitError(
        f"unknown model {name!r}; known {engine} models: {', '.join(known)} (see 'digitkit models')"
    )


def build_model(name: str, engine: str = "torch", **kwargs: Any) -> Any:
    """Build the architecture ``name`` with its defaults overridden by ``kwargs``."""
    spec = get_spec(name, engine)
    return spec.builder(**{**spec.defaults, **kwargs})


def count_params(module: Any) -> int:
    """Number of trainable parameters of a torch module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
