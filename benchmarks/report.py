"""Tables, CSV, plot, slopes and the machine description for run.py's results.

A result row is a dict (see run.py ``_row``): section ("N", "D", "tiny", …), method, label, dtype,
N, D, d, status ("measured", "projected" or "skipped"), the times of every repeat, their median,
min and max, and the ratios filled in by :func:`add_ratios`.
"""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import sys

import numpy as np

NXN = 8.0  # bytes per entry of one N x N float64 matrix, the memory unit of the tables

CSV_FIELDS = (
    "section",
    "method",
    "label",
    "dtype",
    "N",
    "D",
    "d",
    "status",
    "repeats",
    "median_s",
    "min_s",
    "max_s",
    "ratio_sklearn",
    "ratio_forward",
    "rel_err_f",
    "rel_err_grad",
    "peak_bytes",
    "peak_nxn",
    "traced_bytes",
    "traced_nxn",
    "note",
    "threads",
    "allocator",
)


# ------------------------------------------------------------------------------------- machine
def machine_description(threads):
    """CPU, cores, Python, NumPy and its BLAS, and the versions of every library benchmarked."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "threads": threads,
    }
    import numpy

    info["numpy"] = numpy.__version__
    try:
        from threadpoolctl import threadpool_info

        blas = [
            f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
            f"{p.get('num_threads')} thread(s))"
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
        info["blas"] = "; ".join(blas) or "unknown"
    except ImportError:
        info["blas"] = "unknown (threadpoolctl not installed)"
    for module in ("sklearn", "scipy", "jax", "torch", "autograd"):
        info[module] = _version(module)
    info["allocator"] = allocator_name()
    return info


def _version(module):
    try:
        from importlib.metadata import version

        return version({"sklearn": "scikit-learn"}.get(module, module))
    except Exception:  # not installed
        return "not installed"


TUNED_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "536870912",
}


def allocator_name():
    return "tuned" if all(os.environ.get(k) == v for k, v in TUNED_MALLOC.items()) else "default"


def describe_machine(info):
    lines = [
        f"- CPU: {info['cpu']}, {info['cores']} cores; **{info['threads']} thread(s)** "
        "for BLAS/OpenMP/XLA/PyTorch",
        f"- Python {info['python']}, NumPy {info['numpy']} with {info['blas']}",
        f"- scikit-learn {info['sklearn']}, SciPy {info['scipy']}, JAX {info['jax']}, "
        f"PyTorch {info['torch']}, HIPS autograd {info['autograd']}",
        f"- glibc allocator settings: {info['allocator']}",
    ]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- ratios
def add_ratios(rows):
    """ratio_sklearn: time / scikit-learn's at the same size and section; ratio_forward: time /
    tinygrad_nca's forward pass in the same dtype (our loss+gradient over our own forward).

    Both are medians of per-round ratios where the two methods ran in the same timed rounds:
    within a round they run moments apart, so a burst of load on a shared machine scales both
    and cancels out of their ratio, which a ratio of two medians does not do."""
    index = {(r["section"], r["method"], r["N"], r["D"], r["d"]): r for r in rows}
    for r in rows:
        key = (r["section"], r["N"], r["D"], r["d"])
        sk = index.get((key[0], "sklearn") + key[1:])
        fwd = index.get((key[0], r.get("forward")) + key[1:])
        r["ratio_sklearn"] = _ratio(r, sk)
        r["ratio_forward"] = _ratio(r, fwd) if r.get("forward") else None
    return rows


def _ratio(row, base):
    if base is None or row.get("median_s") is None or base.get("median_s") is None:
        return None
    mine, theirs = row.get("times") or [], base.get("times") or []
    if mine and len(mine) == len(theirs):  # paired: round r of one against round r of the other
        return float(np.median(np.divide(mine, theirs)))
    return row["median_s"] / base["median_s"]


def slope(rows, section, method, axis, at_least=0):
    """Least-squares slope of log(time) against log(axis) over the measured rows with
    axis >= ``at_least`` (None if fewer than two)."""
    pts = [
        (r[axis], r["median_s"])
        for r in rows
        if r["section"] == section
        and r["method"] == method
        and r["status"] == "measured"
        and r[axis] >= at_least
    ]
    if len({p[0] for p in pts}) < 2:
        return None
    x, t = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, t, 1)[0])


# -------------------------------------------------------------------------------------- tables
def fmt_time(seconds):
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _cell(r):
    if r is None:
        return "—"
    if r["status"] == "skipped":
        return "not run"
    if r["status"] == "projected":
        return f"≈{fmt_time(r['median_s'])}*"
    return fmt_time(r["median_s"])


def _x(v):
    return "—" if v is None else f"{v:.2f}×"


def markdown_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _in_method_order(rows, methods):
    rank = {m: i for i, m in enumerate(methods)}
    return sorted(rows, key=lambda r: rank.get(r["method"], len(rank)))


def headline_table(rows, memory, section, size, methods):
    """One row per method at one size: median, spread, ratios, peak memory, agreement."""
    N, D, d = size
    mem = {m["method"]: m for m in memory if (m["N"], m["D"], m["d"]) == size}
    body = []
    for r in _in_method_order(rows, methods):
        if r["section"] != section or (r["N"], r["D"], r["d"]) != size:
            continue
        spread = (
            f"{fmt_time(r['min_s'])} – {fmt_time(r['max_s'])}"
            if r["status"] == "measured"
            else r.get("note", "")
        )
        m = mem.get(r["method"])
        peak = "—" if m is None else f"{m['peak_nxn']:.2f}"
        traced = "—" if m is None or m.get("traced_nxn") is None else f"{m['traced_nxn']:.2f}"
        err = (
            "—"
            if r.get("rel_err_f") is None
            else f"{max(r['rel_err_f'], r.get('rel_err_grad') or 0):.0e}"
        )
        body.append(
            [
                r["label"],
                _cell(r),
                spread,
                _x(r.get("ratio_sklearn")),
                _x(r.get("ratio_forward")),
                peak,
                traced,
                err,
            ]
        )
    header = [
        "method",
        "median",
        "min – max",
        "/ scikit-learn",
        "/ our forward",
        "peak extra RSS (N×N f64)",
        "NumPy peak (N×N f64)",
        "max rel. error",
    ]
    return f"N = {N}, D = {D}, d = {d}\n\n" + markdown_table(header, body)


def sweep_table(rows, section, axis, methods):
    """Time against N (or D): one row per size, one column per method."""
    sizes = sorted(
        {(r["N"], r["D"], r["d"]) for r in rows if r["section"] == section},
        key=lambda s: s[0] if axis == "N" else s[1],
    )
    index = {(r["method"], r["N"], r["D"], r["d"]): r for r in rows if r["section"] == section}
    labels = {r["method"]: r["label"] for r in rows if r["section"] == section}
    present = [m for m in methods if m in labels]
    body = [
        [f"{s[0]}", f"{s[1]}", f"{s[2]}"] + [_cell(index.get((m,) + s)) for m in present]
        for s in sizes
    ]
    return markdown_table(["N", "D", "d"] + [labels[m] for m in present], body)


def slope_table(rows, methods, n_from):
    body = []
    for m in methods:
        label = next((r["label"] for r in rows if r["method"] == m), None)
        if label is None:
            continue
        sn, sd = slope(rows, "N", m, "N", n_from), slope(rows, "D", m, "D")
        if sn is None and sd is None:
            continue
        body.append([label, "—" if sn is None else f"{sn:.2f}", "—" if sd is None else f"{sd:.2f}"])
    return markdown_table(["method", f"slope in N (N ≥ {n_from})", "slope in D"], body)


def scale_text(scale):
    N, D, d, block_size = scale["N"], scale["D"], scale["d"], scale["block_size"]
    best = min(scale["seconds"])
    lines = [
        f"Full-batch loss + gradient at N = {N:,}, D = {D}, d = {d}, in blocks of "
        f"{block_size} rows, in a fresh process: {fmt_time(best)} (calls: "
        + ", ".join(fmt_time(t) for t in scale["seconds"])
        + f"); peak RSS of the whole process, data included: "
        f"{scale['peak_rss'] / 2**30:.2f} GiB (one N×N float64 matrix alone would be "
        f"{8 * N * N / 2**30:.1f} GiB)."
    ]
    if scale.get("full_extrapolated"):
        n0, k, fitted = scale["full_from"]
        full = scale["full_extrapolated"]
        how = f"the N sweep's fitted slope {k:.2f}" if fitted else "an assumed slope of 2"
        lines.append(
            f"The full-matrix path would take ≈ {fmt_time(full)} here: extrapolated "
            f"from its median at N = {n0} along {how} "
            f"(not run: it needs several {8 * N * N / 2**30:.1f} GiB matrices). "
            f"Blockwise / full-matrix: {best / full:.2f}×."
        )
    return " ".join(lines)


def targets_table(rows, memory, scale, head, n_from):
    """Issue 5's targets, each with what was measured here and whether it is met, for the
    default (automatic blocks) and the full-matrix path."""

    def at(method, key, section="N"):
        r = next(
            (
                r
                for r in rows
                if r["section"] == section
                and r["method"] == method
                and (r["N"], r["D"], r["d"]) == head
            ),
            None,
        )
        return None if r is None else r.get(key)

    def mem(method):
        m = next(
            (m for m in memory if m["method"] == method and (m["N"], m["D"], m["d"]) == head), None
        )
        return None if m is None else m["peak_nxn"]

    tiny = {r["method"]: r["median_s"] for r in rows if r["section"] == "tiny"}
    body = []

    def add(target, values, ok):
        cells = ["—" if v is None else v for v in values]
        verdict = [("—" if v is None else ("met" if ok(v) else "**NOT met**")) for v in values]
        body.append(
            [target]
            + [
                f"{c} ({v})" if c != "—" else c
                for c, v in zip(
                    [(f"{x:.2f}" if isinstance(x, float) else x) for x in cells],
                    verdict,
                    strict=False,
                )
            ]
        )

    add(
        "loss + gradient ≤ 0.85 × scikit-learn",
        [at("tg", "ratio_sklearn"), at("tg_full", "ratio_sklearn")],
        lambda v: v <= 0.85,
    )
    add(
        "≤ 2.0 × our own forward pass",
        [at("tg", "ratio_forward"), at("tg_full", "ratio_forward")],
        lambda v: v <= 2.0,
    )
    add(
        "peak extra memory ≤ 2 N×N float64 (VmHWM)", [mem("tg"), mem("tg_full")], lambda v: v <= 2.0
    )
    add(
        "float32 ≤ 0.5 × scikit-learn's float64",
        [at("tg_f32", "ratio_sklearn"), at("tg_f32_full", "ratio_sklearn")],
        lambda v: v <= 0.5,
    )
    add(
        f"slope in N within 1.9–2.1 (N ≥ {n_from})",
        [slope(rows, "N", "tg", "N", n_from), slope(rows, "N", "tg_full", "N", n_from)],
        lambda v: 1.9 <= v <= 2.1,
    )
    add(
        "slope in D ≤ 1.1",
        [slope(rows, "D", "tg", "D"), slope(rows, "D", "tg_full", "D")],
        lambda v: v <= 1.1,
    )
    ratio = (tiny["tg"] / tiny["autograd"]) if "tg" in tiny and "autograd" in tiny else None
    add("tiny problem: ≤ HIPS autograd's time", [ratio, None], lambda v: v <= 1.0)
    if scale:
        add(
            f"N = {scale['N']:,}: peak RSS < 3 GB (GiB)",
            [scale["peak_rss"] / 2**30, None],
            lambda v: v * 2**30 < 3e9,
        )
        full = scale.get("full_extrapolated")
        add(
            f"N = {scale['N']:,}: ≤ 1.3 × the full-matrix time (extrapolated)",
            [min(scale["seconds"]) / full if full else None, None],
            lambda v: v <= 1.3,
        )
    N, D, d = head
    return (
        f"At N = {N}, D = {D}, d = {d} (issue 5 states them at N = 4000, D = 784, d = 32)."
        "\n\n"
        + markdown_table(["target", "tinygrad_nca (auto blocks)", "tinygrad_nca full matrix"], body)
    )


def fit_table(fits):
    f = fits[0]
    body = [
        [
            r["label"],
            fmt_time(r["seconds"]),
            str(r["n_iter"]),
            f"{r['acc1']:.2%}",
            f"{r['acc3']:.2%}",
        ]
        for r in fits
    ]
    return (
        f"scikit-learn's digits, {f['N']} training points (70%, stratified), D = {f['D']}, "
        f"d = {f['d']}, default settings (L-BFGS, init 'auto', 50 iterations at most); "
        "k-NN accuracy on the 30% held out.\n\n"
        + markdown_table(
            ["estimator", "fit time", "iterations", "1-NN accuracy", "3-NN accuracy"], body
        )
    )


def tiny_table(rows):
    tiny = [r for r in rows if r["section"] == "tiny" and r["status"] == "measured"]
    if not tiny:
        return ""
    base = next((r["median_s"] for r in tiny if r["method"] == "autograd"), None)
    body = [
        [
            r["label"],
            fmt_time(r["median_s"]),
            f"{fmt_time(r['min_s'])} – {fmt_time(r['max_s'])}",
            "—" if base is None else f"{r['median_s'] / base:.2f}×",
        ]
        for r in tiny
    ]
    r0 = tiny[0]
    return f"N = {r0['N']}, D = {r0['D']}, d = {r0['d']}\n\n" + markdown_table(
        ["method", "median", "min – max", "/ HIPS autograd"], body
    )


# ------------------------------------------------------------------------------------- CSV/plot
def write_csv(path, rows, memory, threads, allocator):
    mem = {(m["method"], m["N"], m["D"], m["d"]): m for m in memory}
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            m = mem.get((r["method"], r["N"], r["D"], r["d"])) if r["section"] == "N" else None
            writer.writerow(
                dict(
                    r,
                    threads=threads,
                    allocator=r.get("allocator", allocator),
                    peak_bytes=m and m["bytes"],
                    peak_nxn=m and m["peak_nxn"],
                    traced_bytes=m and m.get("traced"),
                    traced_nxn=m and m.get("traced_nxn"),
                )
            )
        for m in memory:  # memory of a size that was not timed still gets its line
            if not any(
                (r["method"], r["N"], r["D"], r["d"]) == (m["method"], m["N"], m["D"], m["d"])
                and r["section"] == "N"
                for r in rows
            ):
                writer.writerow(
                    {
                        "section": "memory",
                        "method": m["method"],
                        "N": m["N"],
                        "D": m["D"],
                        "d": m["d"],
                        "status": "measured",
                        "peak_bytes": m["bytes"],
                        "peak_nxn": m["peak_nxn"],
                        "traced_bytes": m.get("traced"),
                        "traced_nxn": m.get("traced_nxn"),
                        "threads": threads,
                        "allocator": allocator,
                    }
                )


# One look per method: ours in blues/teals (dashed: full matrix; grey dotted: forward only),
# each peer its own colour, the paper's formula black.
STYLE = {
    "tg": dict(color="#1f4e9c", lw=2.6, ls="-", marker="o"),
    "tg_full": dict(color="#1f4e9c", lw=1.4, ls="--", marker="o"),
    "tg_f32": dict(color="#2a9d8f", lw=2.2, ls="-", marker="o"),
    "tg_f32_full": dict(color="#2a9d8f", lw=1.2, ls="--", marker="o"),
    "tg_forward": dict(color="#555555", lw=1.6, ls=":", marker="."),
    "tg_forward_full": dict(color="#555555", lw=1.0, ls="-.", marker="."),
    "tg_forward_f32": dict(color="#aaaaaa", lw=1.6, ls=":", marker="."),
    "tg_forward_f32_full": dict(color="#aaaaaa", lw=1.0, ls="-.", marker="."),
    "sklearn": dict(color="#e76f00", lw=2.2, ls="-", marker="s"),
    "handtuned": dict(color="#8c564b", lw=1.4, ls="-", marker="s"),
    "jax": dict(color="#9467bd", lw=1.4, ls="-", marker="^"),
    "autograd": dict(color="#d62728", lw=1.4, ls="-", marker="v"),
    "torch": dict(color="#e377c2", lw=1.4, ls="-", marker="D"),
    "eq5": dict(color="black", lw=1.4, ls="-", marker="x"),
}


def plot(path, rows, methods, title):
    """Two log-log panels: time against N and against D, one line per method; projected
    times (the paper's formula where it is too slow to run) dashed with open markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13.5, 5.6))
    for ax, section, axis in ((axes[0], "N", "N"), (axes[1], "D", "D")):
        for m in methods:
            pts = sorted(
                (r[axis], r["median_s"], r["status"], r["label"])
                for r in rows
                if r["section"] == section
                and r["method"] == m
                and r["status"] in ("measured", "projected")
            )
            if not pts:
                continue
            style = dict(STYLE.get(m, dict(color="grey", lw=1, ls="-", marker="o")))
            label = pts[0][3]
            measured = [(x, t) for x, t, s, _ in pts if s == "measured"]
            projected = [(x, t) for x, t, s, _ in pts if s == "projected"]
            if measured:
                ax.plot(*zip(*measured, strict=False), label=label, markersize=5, **style)
            if projected:
                joined = measured[-1:] + projected
                ax.plot(
                    *zip(*joined, strict=False),
                    color=style["color"],
                    lw=1.2,
                    ls=(0, (4, 3)),
                    marker="o",
                    mfc="none",
                    markersize=5,
                    label=None if measured else f"{label} (projected, c·dDN²)",
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(axis)
        ax.set_ylabel("seconds per call")
        fixed = next(
            (
                (r["D"], r["d"]) if axis == "N" else (r["N"], r["d"])
                for r in rows
                if r["section"] == section
            ),
            None,
        )
        if fixed:
            ax.set_title(
                f"time vs {axis} ({'D' if axis == 'N' else 'N'} = {fixed[0]}, d = {fixed[1]})"
            )
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    more_h, more_l = axes[1].get_legend_handles_labels()
    for h, lab in zip(more_h, more_l, strict=False):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.suptitle(
        title + "\nloss + gradient unless 'forward only'; open markers, dashed: "
        "projected (too slow to run)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 0.78, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def command_line():
    return "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])


def git_commit():
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    except OSError:
        return "unknown"
