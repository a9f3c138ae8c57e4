"""``digitkit models``: the architectures in the registry, with parameter counts."""

from __future__ import annotations

import typer
from rich.table import Table

from digitkit.cli._common import JsonOption, console, print_json, print_table


def _summary_torch(name: str) -> tuple[Table, list[dict[str, object]]]:
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
    table = Table(
        "layer", "type", "output shape", "params", title=f"{name} (input 1x{size}x{size})"
    )
    for label, kind, shape, params in rows:
        table.add_row(label, kind, shape, f"{params:,}")
    total = sum(p.numel() for p in model.parameters())
    table.add_row("", "[bold]total[/]", "", f"[bold]{total:,}[/]")
    layers = [
        {"layer": label, "type": kind, "output_shape": shape, "params": params}
        for label, kind, shape, params in rows
    ]
    return table, layers


def _summary_numpy(name: str) -> str:
    from digitkit.models import build_model

    return build_model(name, "numpy").summary()  # the engine's own layer-by-layer text


def models(
    name: str = typer.Argument(None, help="Show this architecture layer by layer."),
    engine: str = typer.Option(None, help="Only torch or numpy models."),
    as_json: bool = JsonOption,
) -> None:
    """List the architectures with parameter counts, or show one layer by layer.

    Examples:

      digitkit models

      digitkit models lenet5

      digitkit models lenet5 --engine numpy

      digitkit models --json
    """
    from digitkit.models import all_specs, build_model, count_params, get_spec

    if name:
        get_spec(name, engine or "torch")
        if (engine or "torch") == "numpy":
            summary = _summary_numpy(name)
            if as_json:
                print_json({"model": name, "engine": "numpy", "summary": summary})
            else:
                console.print(summary, soft_wrap=True, markup=False)
        else:
            table, layers = _summary_torch(name)
            if as_json:
                print_json(
                    {
                        "model": name,
                        "engine": "torch",
                        "layers": layers,
                        "params": sum(layer["params"] for layer in layers),
                    }
                )
            else:
                print_table(table)
        return
    listing = []
    for spec in all_specs(engine):
        model = build_model(spec.name, spec.engine)
        params = count_params(model) if spec.engine == "torch" else model.num_params
        listing.append(
            {
                "model": spec.name,
                "engine": spec.engine,
                "params": int(params),
                "recipe": spec.recipe,
                "description": spec.description,
            }
        )
    if as_json:
        print_json(listing)
        return
    table = Table("model", "engine", "params", "recipe", "description")
    for row in listing:
        table.add_row(
            row["model"], row["engine"], f"{row['params']:,}", row["recipe"], row["description"]
        )
    print_table(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
