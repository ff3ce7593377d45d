"""CI smoke test of benchmarks/run.py: it runs end to end at a tiny size, writes its table, CSV
and plot, and its agreement check both passes on the real methods and catches a wrong one.

The speed targets themselves are not tested here (benchmarks are not unit tests)."""

import csv
import os
import subprocess
import sys

import pytest

RUN = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "run.py"
)
# The peers that are always installed with the test extra; JAX, PyTorch and HIPS autograd are
# optional and slow to import, so the smoke test leaves them out.
METHODS = "tg,tg_full,tg_f32,tg_forward,tg_forward_full,tg_forward_f32,sklearn,handtuned,eq5"


def run(tmp_path, *extra):
    cmd = [sys.executable, RUN, "--smoke", "--methods", METHODS, "--out-dir", str(tmp_path), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("bench")
    return out_dir, run(out_dir)


def test_smoke_run_succeeds_and_checks_agreement(smoke):
    _, result = smoke
    assert result.returncode == 0, result.stderr
    assert "agreement at N, D, d" in result.stdout
    assert "OMP_NUM_THREADS=1" in result.stdout  # the thread count is fixed and printed


def test_smoke_run_writes_csv_with_every_method(smoke):
    out_dir, _ = smoke
    with open(out_dir / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    timed = [r for r in rows if r["section"] in ("N", "D") and r["status"] == "measured"]
    assert {r["method"] for r in timed} == set(METHODS.split(","))
    for r in timed:
        assert float(r["median_s"]) > 0
        assert float(r["min_s"]) <= float(r["median_s"]) <= float(r["max_s"])
        tolerance = 1e-8 if r["dtype"] == "float64" else 1e-4
        assert float(r["rel_err_f"]) <= tolerance
        if r["rel_err_grad"]:
            assert float(r["rel_err_grad"]) <= tolerance
    # our loss + gradient has its ratio to scikit-learn and to our own forward pass
    tg = next(r for r in timed if r["method"] == "tg")
    assert float(tg["ratio_sklearn"]) > 0 and float(tg["ratio_forward"]) > 0
    assert any(r["section"] == "tiny" for r in rows)
    assert any(r["peak_nxn"] for r in rows)


def test_smoke_run_writes_table_and_plot(smoke):
    out_dir, result = smoke
    table = (out_dir / "results.md").read_text()
    for heading in (
        "Time against N",
        "Time against D",
        "Fitted log-log slopes",
        "Engine overhead on a tiny problem",
    ):
        assert heading in table and heading in result.stdout
    assert "tinygrad_nca" in table and "scikit-learn" in table
    png = (out_dir / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_a_disagreeing_method_fails_the_run(tmp_path):
    result = run(tmp_path, "--corrupt", "tg", "--no-memory", "--no-tiny", "--no-plot")
    assert result.returncode == 1
    assert "AGREEMENT CHECK FAILED" in result.stderr
    assert "tinygrad_nca (auto blocks):" in result.stderr and "gradient" in result.stderr
    assert not (tmp_path / "results.csv").exists()  # nothing is reported after a failure


def test_ratios_pair_the_rounds_of_two_methods():
    # Load rose during the run: in rounds 1 and 2 the method took twice its base's time; in
    # round 3 only the base was slowed. Median of per-round ratios: 2. Ratio of medians: 4/3.
    sys.path.insert(0, os.path.dirname(RUN))
    import report

    base = dict(section="N", method="sklearn", N=10, D=4, d=2, median_s=3.0, times=[1.0, 3.0, 5.0])
    mine = dict(
        section="N", method="tg", N=10, D=4, d=2, median_s=4.0, times=[2.0, 6.0, 4.0], forward=None
    )
    report.add_ratios([base, mine])
    assert mine["ratio_sklearn"] == pytest.approx(2.0)
    # Unpaired rows (different numbers of rounds) fall back to the ratio of medians.
    mine.update(times=[2.0, 6.0], median_s=4.0)
    report.add_ratios([base, mine])
    assert mine["ratio_sklearn"] == pytest.approx(4.0 / 3.0)


def test_stochastic_scripts_run_at_tiny_sizes():
    here = os.path.dirname(RUN)
    digits = subprocess.run(
        [
            sys.executable,
            os.path.join(here, "stochastic_digits.py"),
            "--splits",
            "1",
            "--epochs",
            "3",
            "--lbfgs-iter",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert digits.returncode == 0, digits.stderr
    assert "Adam − L-BFGS per split" in digits.stdout
    quick = subprocess.run(
        [
            sys.executable,
            os.path.join(here, "stochastic_nca.py"),
            "--n",
            "2000",
            "--features",
            "20",
            "--components",
            "4",
            "--epochs",
            "1",
            "--batch-size",
            "500",
            "--n-subset",
            "300",
            "--n-test",
            "300",
            "--lbfgs-iter",
            "5",
            "--subset-epochs",
            "5",
            "--control-epochs",
            "0",
            "--subset-batch-size",
            "100",
            "--record-every",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert quick.returncode == 0, quick.stderr
    assert "held-out 3-NN" in quick.stdout
