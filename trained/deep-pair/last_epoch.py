"""A number-reader run's last epoch as a run of its own: the checkpoint's averaged weights.

python trained/deep-pair/last_epoch.py RUN OUT
    (rules P2 and P3: a kept epoch mid-schedule whose int8 graph fails the export's gate)
"""

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def main(run: str, out: str) -> None:
    src, dst = Path(run), Path(out)
    state = load_file(src / "checkpoint" / "state.safetensors")
    ema = {k.removeprefix("ema."): v.contiguous() for k, v in state.items() if k.startswith("ema.")}
    kept = load_file(src / "model.safetensors")
    assert ema.keys() == kept.keys(), "averaged weights and kept weights name different tensors"
    history = (src / "history.csv").read_text().splitlines()
    header, last = history[0].split(","), history[-1].split(",")
    row = dict(zip(header, last, strict=True))
    card = json.loads((src / "card.json").read_text())
    for key in ("onnx", "int8"):
        card.pop(key, None)
    card["best_epoch"] = int(row["epoch"])
    val = {k.removeprefix("val_"): float(v) for k, v in row.items() if k.startswith("val_")}
    card["metrics"]["val"] = val
    card["note"] = f"{src.name}'s last epoch (its checkpoint's averaged weights), not the one kept"
    dst.mkdir(parents=True, exist_ok=False)
    save_file(ema, dst / "model.safetensors")
    (dst / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    shutil.copy(src / "history.csv", dst / "history.csv")
    print(f"wrote {dst}: epoch {row['epoch']}, val exact {float(row['val_exact']):.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
