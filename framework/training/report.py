"""`nlpf report RUN_DIR [out=PATH]`: loss, metric and learning-rate curves from the run's CSV log, as a PNG."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from framework.errors import NlpfError, did_you_mean


def read_log(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """{column: [(step, value), ...]} from RUN_DIR/logs/metrics.csv (rows hold different columns)."""
    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        raise NlpfError(f"no CSV log in '{run_dir}' ({path} is missing)",
                        hint="pass a run directory of `nlpf train` run with trainer.loggers=[csv] (the default)")
    series: dict[str, list[tuple[float, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = row.get("step")
            if not step:
                continue
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                try:
                    series.setdefault(key, []).append((float(step), float(value)))
                except ValueError:
                    continue
    return series


def panels(series: dict) -> list[tuple[str, list[str]]]:
    """(title, columns) per subplot: loss first, then each validation/test metric, then the learning rate."""
    out = [("loss", [k for k in ("train/loss", "val/loss") if k in series])]
    metrics = sorted({k.split("/", 1)[1] for k in series if k.startswith(("val/", "test/"))} - {"loss"})
    out += [(m, [k for k in (f"val/{m}", f"test/{m}") if k in series]) for m in metrics]
    lr = sorted(k for k in series if k.startswith("lr"))
    out += [("learning rate", lr[:1])] if lr else []  # parameter groups share one schedule
    out += [("tokens/s", ["train/tokens_per_s"])] if "train/tokens_per_s" in series else []
    return [p for p in out if p[1]]


def render(run_dir: Path, out: Path) -> Path:
    try:
        import matplotlib
    except ImportError:
        from framework.errors import NlpfError

        raise NlpfError("nlpf report draws with matplotlib, which is not installed",
                        hint="pip install 'nlpf[report]' (or pip install matplotlib); the numbers themselves are in "
                        f"{run_dir / 'logs' / 'metrics.csv'}") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_log(run_dir)
    plots = panels(series)
    if not plots:
        raise NlpfError(f"the CSV log of '{run_dir}' holds no curves yet", hint="train for at least one logging step")
    cols = min(3, len(plots))
    rows = math.ceil(len(plots) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), squeeze=False)
    for ax, (title, keys) in zip(axes.flat, plots):
        for key in keys:
            steps, values = zip(*series[key])
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(plots):]:
        ax.axis("off")
    fig.suptitle(str(run_dir))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


FORMATS = (".png", ".pdf", ".svg")


def _check_out(out: Path) -> None:
    """out= names an image file in an existing directory, in a format the report is drawn in."""
    if out.is_dir():
        raise NlpfError(f"out={out} is a directory", hint=f"name a file: out={out / 'report.png'}")
    if out.suffix.lower() not in FORMATS:
        raise NlpfError(f"out={out}: the report is drawn as {', '.join(FORMATS)}, not '{out.suffix or 'no suffix'}'",
                        hint=f"out={out.with_suffix('.png')}")
    if not out.parent.is_dir():
        raise NlpfError(f"out={out}: the directory '{out.parent}' does not exist", hint="create it first, or choose "
                        "another out=")


def report_command(args: list[str], ctx) -> int:
    run_dir, out = None, None
    for a in args:
        if a.startswith("out="):
            out = Path(a[4:])
        elif run_dir is None and "=" not in a:
            run_dir = Path(a)
        elif "=" in a:
            raise NlpfError(f"unknown argument '{a.split('=', 1)[0]}'." + did_you_mean(a.split("=", 1)[0], ["out"]),
                            hint="nlpf report RUN_DIR [out=FILE.png]")
        else:
            raise NlpfError(f"cannot parse argument '{a}'", hint="nlpf report RUN_DIR [out=FILE.png]")
    if run_dir is None:
        raise NlpfError("nlpf report needs a run directory", hint="nlpf report runs/<experiment>/<time>")
    if not run_dir.is_dir():
        raise NlpfError(f"run directory '{run_dir}' does not exist",
                        hint="pass a directory written by `nlpf train` (runs/<experiment>/<time> by default)")
    if out is not None:
        _check_out(out)
    path = render(run_dir, out or run_dir / "report.png")
    print(path)
    return 0
