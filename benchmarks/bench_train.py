"""Train models with their recipes and record accuracy and time in benchmarks/RESULTS.md.

Each (model, recipe) result is kept as JSON under benchmarks/results/, and the section
"## Training (torch engine)" of RESULTS.md is regenerated from all of them, so runs made at
different times compose. Test accuracy is measured after every epoch for the time-to-accuracy
figures only; the kept weights are always the best epoch on the validation split, or the last
epoch for recipes that hold none out (n_val=0: the tutorials' protocol).

Examples:
    python benchmarks/bench_train.py cnn-fast:fast
    python benchmarks/bench_train.py mlp:tutorial cnn-simple:tutorial cnn-large:tutorial
    python benchmarks/bench_train.py cnn-fast:fast-long --runs-dir runs/bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_MD = HERE / "RESULTS.md"
SECTION = "## Training (torch engine)"

PUBLISHED = {  # what the projects we reproduce reported (REFERENCE.md)
    ("mlp", "tutorial"): "98.26-98.29% (Keras tutorial)",
    ("cnn-simple", "tutorial"): "99.05% (Keras tutorial)",
    ("cnn-large", "tutorial"): "99.17% (Keras tutorial)",
    ("lenet5", "lenet5"): "99.05% (LeCun 1998, no distortions)",
    ("fc-deep", "kaggle-fc"): "97.90% val (Kaggle blog)",
}


def machine() -> str:
    load = os.getloadavg()[0]
    shared = f", shared with other jobs (load {load:.1f})" if load > 2.5 else ""
    return f"{os.cpu_count()}-core CPU ({platform.machine()}){shared}"


def first_reaching(history: list[dict[str, float]], target: float) -> float | None:
    """Training seconds until test accuracy first reached ``target`` (None if never)."""
    for row in history:
        if row.get("test_acc", 0) >= target:
            return row["elapsed"]
    return None


def bench(model: str, recipe_name: str, runs_dir: Path, overrides: list[str]) -> dict:
    from digitkit.data import load_splits
    from digitkit.train.loop import TrainOptions, train
    from digitkit.train.recipes import apply_overrides, get_recipe

    recipe = apply_overrides(get_recipe(recipe_name), overrides)
    t0 = time.perf_counter()
    splits = load_splits(n_val=recipe.n_val, split_seed=recipe.split_seed)  # as 'digitkit train'
    load_s = time.perf_counter() - t0
    out = runs_dir / f"{model}-{recipe_name}"
    start_machine = machine()
    cpu0 = time.process_time()
    card = train(
        model,
        recipe,
        splits,
        out,
        options=TrainOptions(progress=False, report_test_each_epoch=True, log=print),
    )
    cpu_s = time.process_time() - cpu0
    history = [{k: float(v) for k, v in row.items()} for row in card_history(out)]
    result = {
        "model": model,
        "recipe": recipe_name,
        "overrides": overrides,
        "epochs": card["epochs_run"],
        "best_epoch": card["best_epoch"],
        "val_acc": card["metrics"].get("val", {}).get("accuracy"),  # None without a val split
        "test_acc": card["metrics"]["test"]["accuracy"],
        "test_errors": card["metrics"]["test"]["errors"],
        "train_s": card["train_time_s"],
        "cpu_s": round(cpu_s, 1),
        "data_load_s": round(load_s, 2),
        "to_99_0_s": first_reaching(history, 0.990),
        "to_99_5_s": first_reaching(history, 0.995),
        "seed": recipe.seed,
        "params": card["num_params"],
        "run": str(out),
        "machine": start_machine,
        "threads": os.environ.get("OMP_NUM_THREADS", "all"),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    tag = "-".join([model, recipe_name, *overrides]).replace("=", "_")
    (RESULTS_DIR / f"train-{tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def card_history(run: Path) -> list[dict[str, str]]:
    from digitkit.runs import read_history

    return read_history(run)


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def seed_summary(rows: list[dict]) -> list[str]:
    """Markdown table of the test accuracy over seeds, for every recipe run with more than
    one seed (same model, recipe and other overrides). A published single run is one draw
    of such a distribution: the mean and spread say what the recipe reproduces."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[dict]] = {}
    for r in rows:
        others = tuple(o for o in r["overrides"] if not o.startswith("seed="))
        groups.setdefault((r["model"], r["recipe"], others), []).append(r)
    lines = []
    for (model, recipe, others), runs in sorted(groups.items()):
        if len(runs) < 2:
            continue
        acc = [100 * r["test_acc"] for r in runs]
        seeds = ", ".join(str(s) for s in sorted(r["seed"] for r in runs))
        name = recipe + (f" ({' '.join(others)})" if others else "")
        lines.append(
            f"| {model} | {name} | {len(runs)} ({seeds}) | **{statistics.mean(acc):.2f}%** "
            f"| {statistics.stdev(acc):.2f} | {min(acc):.2f}-{max(acc):.2f}% "
            f"| {100 - statistics.mean(acc):.2f}% | {PUBLISHED.get((model, recipe), '')} |"
        )
    if not lines:
        return []
    return [
        "",
        "Over seeds (every run of the table above; seeds chosen before the runs):",
        "",
        "| model | recipe | runs (seeds) | mean test | sd | range | mean error | published |",
        "|---|---|---:|---:|---:|---|---:|---|",
        *lines,
    ]


def write_section() -> None:
    """Regenerate this script's section of RESULTS.md from every stored result."""
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("train-*.json"))]
    lines = [
        SECTION,
        "",
        "Produced by `benchmarks/bench_train.py`. Test accuracy is that of the best epoch on "
        "the validation split (5,000 stratified images; seed 0), or of the last epoch where "
        "val is `-` (recipes with n_val=0 train on all 60,000 images, as the tutorials did); "
        "time columns are seconds of "
        "training (per-epoch validation included, data loading excluded: "
        f"{rows[0]['data_load_s'] if rows else '-'} s once). `to 99.0%`/`to 99.5%`: training "
        "seconds until the test accuracy first reached the figure (measured after each epoch, "
        "reporting only). CPU s is process CPU time, a fairer figure when the machine was shared.",
        "",
        "| model | recipe | params | epochs (best) | val | test | errors | published | train s "
        "| CPU s | to 99.0% | to 99.5% | threads | machine, date |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        recipe = r["recipe"] + (f" ({' '.join(r['overrides'])})" if r["overrides"] else "")
        lines.append(
            f"| {r['model']} | {recipe} | {r['params']:,} | {r['epochs']} ({r['best_epoch']}) "
            f"| {fmt_pct(r['val_acc'])} | **{100 * r['test_acc']:.2f}%** | {r['test_errors']} "
            f"| {PUBLISHED.get((r['model'], r['recipe']), '')} | {fmt_s(r['train_s'])} "
            f"| {fmt_s(r['cpu_s'])} | {fmt_s(r['to_99_0_s'])} | {fmt_s(r['to_99_5_s'])} "
            f"| {r['threads']} | {r['machine']}, {r['date']} |"
        )
    lines += seed_summary(rows)
    section = "\n".join(lines) + "\n"
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n"
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS_MD.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="*", help="model:recipe pairs (default cnn-fast:fast)")
    parser.add_argument("--set", nargs="*", default=[], help="recipe overrides key=value")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench"))
    parser.add_argument("--table-only", action="store_true", help="only regenerate RESULTS.md")
    args = parser.parse_args()
    if not args.table_only:
        for job in args.jobs or ["cnn-fast:fast"]:
            model, _, recipe = job.partition(":")
            from digitkit.models import get_spec

            r = bench(model, recipe or get_spec(model).recipe, args.runs_dir, args.set)
            print(json.dumps(r))
    write_section()


if __name__ == "__main__":
    main()
