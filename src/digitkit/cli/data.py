"""``digitkit data``: download, verify and look at the MNIST files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from digitkit.cli._common import (
    DataDirOption,
    JsonOption,
    console,
    err_console,
    print_json,
    print_table,
)

data_app = typer.Typer(help="Download, verify and look at the MNIST data.", no_args_is_help=True)


@data_app.command("download")
def download(
    data_dir: Path = DataDirOption,
    mirror: list[str] = typer.Option(
        None,
        "--mirror",
        help="Mirror base URL (repeatable; tried in order). "
        "Default: $DIGITKIT_MIRRORS or the public mirrors.",
    ),
) -> None:
    """Download the four MNIST files (skipping verified ones), checking each sha256.

    Examples:

      digitkit data download

      digitkit data download --data-dir ./mnist --mirror http://127.0.0.1:8080/mnist
    """
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from digitkit.data.mnist import ensure_mnist

    with Progress(
        *Progress.get_default_columns(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def on_progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total or None)
            bar.update(tasks[name], completed=done)

        root = ensure_mnist(
            data_dir, mirrors=tuple(mirror) if mirror else None, on_progress=on_progress
        )
    console.print(f"MNIST ready in {root}")


@data_app.command("info")
def info(data_dir: Path = DataDirOption, as_json: bool = JsonOption) -> None:
    """Check the files (present, sha256 of the content) and count images per class.

    Examples:

      digitkit data info

      digitkit data info --json
    """
    from digitkit.data.idx import read_idx
    from digitkit.data.mnist import resolve_data_dir, verify

    root = resolve_data_dir(data_dir)
    statuses = verify(root)
    by_key = {s.file.key: s for s in statuses}
    counts: dict[str, list[int]] = {}
    for split in ("train", "test"):
        s = by_key[f"{split}_labels"]
        if s.ok and s.path is not None:
            counts[split] = np.bincount(read_idx(s.path), minlength=10).tolist()
    if as_json:
        print_json(
            {
                "data_dir": str(root),
                "files": [
                    {
                        "file": s.file.name,
                        "ok": s.ok,
                        "problem": s.problem or None,
                        "path": str(s.path) if s.path else None,
                    }
                    for s in statuses
                ],
                "counts": {split: {"per_class": c, "total": sum(c)} for split, c in counts.items()},
            }
        )
    else:
        console.print(f"data directory: {root}")
        files = Table("file", "status", "path")
        for s in statuses:
            status = "[green]OK[/]" if s.ok else f"[red]{s.problem}[/]"
            files.add_row(s.file.name, status, str(s.path or "-"))
        print_table(files)
        if counts:
            table = Table("split", *[str(d) for d in range(10)], "total")
            for split, c in counts.items():
                table.add_row(split, *map(str, c), str(sum(c)))
            print_table(table)
    if not all(s.ok for s in statuses):
        raise typer.Exit(1)


@data_app.command("show")
def show(
    n: int = typer.Option(25, "--n", min=1, max=400, help="How many samples."),
    split: str = typer.Option("train", help="train, val or test."),
    out: Path = typer.Option(Path("samples.png"), "--out", help="PNG to write."),
    seed: int = typer.Option(0, help="Which random samples."),
    data_dir: Path = DataDirOption,
) -> None:
    """Write a labelled grid of random samples as a PNG (the tutorials' first plot).

    Example:

      digitkit data show --n 25 --out samples.png
    """
    from digitkit.data import load_splits
    from digitkit.plots import plot_gallery

    x, y = load_splits(data_dir=data_dir).get(split)
    pick = np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False)
    cols = int(np.ceil(np.sqrt(len(pick))))
    plot_gallery(
        x[pick],
        [f"label {y[i]}" for i in pick],
        out,
        cols=cols,
        title=f"MNIST {split}: {len(pick)} random samples",
    )
    console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
