"""``digitkit ensemble``: combine trained runs into one loadable model (a JSON spec)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from digitkit.cli._common import JsonOption, print_json, print_table
from digitkit.errors import DigitkitError

if TYPE_CHECKING:
    from digitkit.inference.ensemble_build import BuiltEnsemble


# The command's options, declared once here so the command's signature stays one line each.
_RunsArgument = typer.Argument(
    ...,
    help="Run directories (or ensemble specs) to combine; at least two.",
    show_default=False,
)
_MethodOption = typer.Option(
    "average", "--method", "-m", help="average | vote | superlearner | greedy."
)
_OutOption = typer.Option(
    ...,
    "--out",
    "-o",
    help="Folder for ensemble.json, eval-val.json, eval-test.json and the plots.",
    show_default=False,
)
_SplitOption = typer.Option(
    "val",
    "--split",
    help="Split the weights are fitted on "
    "(superlearner, greedy); only val is allowed: test is "
    "reported, never tuned on.",
)
_CombinerOption = typer.Option(
    "auto", help="superlearner: auto (pick by cross-validation) | average | linear | logit."
)
_FoldsOption = typer.Option(5, min=2, help="superlearner: cross-validation folds.")
_SeedOption = typer.Option(0, help="superlearner: seed of the fold assignment.")
_MaxPicksOption = typer.Option(None, min=1, help="greedy: most picks (default 4 x members).")
_AllowMixedInputsOption = typer.Option(
    False,
    "--allow-mixed-inputs",
    help="Accept members with different input normalizations.",
)
_DataDirOption = typer.Option(
    None,
    "--data-dir",
    help="MNIST folder (default: $DIGITKIT_DATA or ~/.cache/digitkit/mnist).",
)


def ensemble(
    run: list[Path] = _RunsArgument,
    method: str = _MethodOption,
    out: Path = _OutOption,
    split: str = _SplitOption,
    combiner: str = _CombinerOption,
    folds: int = _FoldsOption,
    seed: int = _SeedOption,
    max_picks: int | None = _MaxPicksOption,
    allow_mixed_inputs: bool = _AllowMixedInputsOption,
    data_dir: Path | None = _DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Combine trained runs by averaging, voting, a Super Learner or greedy selection.

    Weights are fitted on the validation split only, from each run's cached
    probs-val.npy (computed and cached when missing). Writes OUT/ensemble.json (usable
    wherever a model is: evaluate, predict --model, serve --model), OUT/eval-val.json,
    OUT/eval-test.json, OUT/accuracy.png (members vs ensemble) and OUT/errors-test.png.

    Examples:

      digitkit ensemble runs/wrn runs/resnet164 runs/vgg16 --method average -o runs/avg

      digitkit ensemble runs/m3-* runs/m5-* runs/m7-* --method vote --out runs/simplecnn-vote

      digitkit ensemble runs/* --method superlearner --out runs/zoo-sl

      digitkit ensemble runs/* --method greedy --out runs/zoo-greedy

      digitkit predict digit.png --model runs/zoo-sl/ensemble.json
    """
    from digitkit.inference import ensemble as ens
    from digitkit.inference.ensemble_build import build_ensemble

    if out.exists() and not out.is_dir():
        raise DigitkitError(f"{out}: exists and is not a folder")
    spec_path = out / ens.SPEC_NAME
    built = build_ensemble(
        run,
        method,
        spec_path,
        data_dir=data_dir,
        fit_split=split,
        folds=folds,
        seed=seed,
        combiner=combiner,
        max_picks=max_picks,
        allow_mixed_inputs=allow_mixed_inputs,
    )
    out.mkdir(parents=True, exist_ok=True)
    ens.save_spec(spec_path, built.spec)
    reports = _write_reports(built, out)
    last = _plot(built, reports, out, method)
    if as_json:
        _print_json_summary(built, reports, spec_path, method)
        return
    _print_summary(built, reports, method)
    typer.echo(
        f"wrote {spec_path} (use it as --model), eval-*.json, accuracy.png, "
        f"errors-{last}.png in {out}"
    )
    _print_selection(built.spec)


def _write_reports(built: BuiltEnsemble, out: Path) -> dict[str, dict[str, Any]]:
    """The evaluation report of every split the ensemble was measured on, each written to
    ``out/eval-<split>.json``."""
    from digitkit import atomic
    from digitkit.inference.ensemble_build import eval_report

    reports = {}
    for s in built.probs:
        reports[s] = eval_report(built, s)
        atomic.write_json(out / f"eval-{s}.json", reports[s])
    return reports


def _plot(built: BuiltEnsemble, reports: dict[str, dict[str, Any]], out: Path, method: str) -> str:
    """accuracy.png (members against the ensemble) and the errors of the last split (test
    when measured, else val); returns that split."""
    from digitkit.plots import plot_accuracy_bars, plot_errors

    plot_accuracy_bars(
        reports, out / "accuracy.png", title=f"{method} of {len(built.member_names)} members"
    )
    last = "test" if "test" in built.probs else "val"
    plot_errors(
        built.images[last],
        built.labels[last],
        built.ensemble_probs[last],
        out / f"errors-{last}.png",
        title=f"{method}: {reports[last]['errors']} {last} errors",
    )
    return last


def _print_json_summary(
    built: BuiltEnsemble, reports: dict[str, dict[str, Any]], spec_path: Path, method: str
) -> None:
    print_json(
        {
            "spec": str(spec_path),
            "method": method,
            "selection": built.spec.get("selection"),
            "reports": {
                s: {k: v for k, v in r.items() if k != "confusion"} for s, r in reports.items()
            },
        }
    )


def _print_summary(built: BuiltEnsemble, reports: dict[str, dict[str, Any]], method: str) -> None:
    """A table of each member's weight and accuracy per split, the ensemble's last."""
    from rich.table import Table

    table = Table(title=f"ensemble ({method})")
    table.add_column("model")
    table.add_column("weight", justify="right")
    for s in reports:
        table.add_column(f"{s} acc", justify="right")
    r0 = reports[next(iter(reports))]
    for i, m in enumerate(r0["members"]):
        table.add_row(
            m["name"],
            f"{m['weight']:.3f}",
            *(f"{100 * reports[s]['members'][i]['accuracy']:.2f}%" for s in reports),
        )
    table.add_row(
        "[bold]ensemble[/]",
        "",
        *(f"[bold]{100 * reports[s]['accuracy']:.2f}%[/]" for s in reports),
    )
    print_table(table)


def _print_selection(spec: dict[str, Any]) -> None:
    """A Super Learner's cross-validated combiners and the one it chose."""
    if "selection" in spec and "cv" in spec["selection"]:
        cv = spec["selection"]["cv"]
        typer.echo(
            "cross-validated on val: "
            + ", ".join(
                f"{c} nll {v['nll']:.4f} acc {100 * v['accuracy']:.2f}%" for c, v in cv.items()
            )
            + f" -> {spec['selection']['chosen']}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``ensemble`` command to the CLI."""
    app.command("ensemble")(ensemble)
