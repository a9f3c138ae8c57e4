"""``digitkit models``: the architectures in the registry, with parameter counts."""

from __future__ import annotations

import typer
from rich.table import Table

from digitkit.cli._common import console


def _summary_torch(name: str) -> Table:
    import torch
    from torch import nn

    from digitkit.models import build_model, get_spec

    spec = get_spec(name, "torch")
    model = build_model(name, "torch").eval()
    rows: list[tuple[str, str, str, int]] = []

    def hook(module: nn.Module, _inputs: object, output: torch.Tensor, label: str) -> None:
        params = sum(p.numel() for p in module.parameters(recurse=False))
        shape = "x".join(map(str, tuple(output.shape)[1:])) if torch.is_tensor(output) else "?"
        rows.append((label, module.__class__.__name__, shape, params))

    handles = [
        m.register_forward_hook(lambda mod, i, o, label=n: hook(mod, i, o, label))
        for n, m in model.named_modules()
        if n and (not list(m.children()) or any(p is not None for p in m.parameters(False)))
    ]
    size = 28 + 2 * spec.input_pad
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    for h in handles:
        h.remove()
    table = Table("layer", "type", "output shape", "params",
                  title=f"{name} (input 1x{size}x{size})")
    for label, kind, shape, params in rows:
        table.add_row(label, kind, shape, f"{params:,}")
    total = sum(p.numel() for p in model.parameters())
    table.add_row("", "[bold]total[/]", "", f"[bold]{total:,}[/]")
    return table


def _summary_numpy(name: str) -> str:
    from digitkit.models import build_model

    return build_model(name, "numpy").summary()  # the engine's own layer-by-layer text


def models(
    name: str = typer.Argument(None, help="Show this architecture layer by layer."),
    engine: str = typer.Option(None, help="Only torch or numpy models."),
) -> None:
    """List the architectures with parameter counts, or show one layer by layer.

    Examples:

      digitkit models

      digitkit models lenet5

      digitkit models lenet5 --engine numpy
    """
    from digitkit.models import all_specs, build_model, count_params, get_spec

    if name:
        get_spec(name, engine or "torch")
        if (engine or "torch") == "numpy":
            console.print(_summary_numpy(name), soft_wrap=True, markup=False)
        else:
            console.print(_summary_torch(name))
        return
    table = Table("model", "engine", "params", "recipe", "description")
    for spec in all_specs(engine):
        model = build_model(spec.name, spec.engine)
        params = count_params(model) if spec.engine == "torch" else model.num_params
        table.add_row(spec.name, spec.engine, f"{params:,}", spec.recipe, spec.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
