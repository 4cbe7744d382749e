"""bench.inspect_floor: the stages it times are the inspection's, and its floors add up.

No timing is asserted: the benchmark reports figures, tests check what it computes and prints.
"""

from __future__ import annotations

import json

import pytest

from bench import inspect_floor
from bench.inspect_floor import BESIDE_THE_CHECKS, STAGES, floors


def test_the_floors_add_the_stages_and_spread_the_ones_beside_the_checks():
    times = {"number index": {"wall": 0.1, "cpu": 0.1}, "checks": {"wall": 2.0, "cpu": 3.6},
             "indexes": {"wall": 0.6, "cpu": 0.6}, "context": {"wall": 0.5, "cpu": 0.5},
             "files": {"wall": 0.2, "cpu": 0.2}}
    serial, spread = floors(times, 0.2, cores=2)
    assert serial == pytest.approx(0.2 + 0.1 + 2.0 + 0.6 + 0.5 + 0.2)
    # the checks' and the indexes' CPU over two cores instead of their walls one after the other
    assert spread == pytest.approx(0.2 + 0.1 + (3.6 + 0.6) / 2 + 0.5 + 0.2)
    assert floors(times, 0.2, cores=1)[1] == pytest.approx(serial + 3.6 - 2.0)  # one core: the CPU is the wall
    assert set(BESIDE_THE_CHECKS) < set(STAGES)


def test_a_run_on_a_small_corpus_prints_every_stage_and_writes_the_inspections_files(tmp_path, capsys):
    assert inspect_floor.main(["--records", "3000", "--residents", "4000", "--runs", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    run_line = next(line for line in printed.splitlines() if line.startswith("run 1:"))
    for stage in ("reading", *STAGES, "start-up"):
        assert f"{stage} " in run_line
    assert "the command with reading free:" in printed and "left for reading both files" in printed
    figures = json.loads((tmp_path / "inspect_floor.json").read_text())
    assert set(figures["stages"][0]) == {"csv module alone", "reading", *STAGES}
    assert all(figures["stages"][0][stage]["wall"] > 0 for stage in figures["stages"][0])
    # the stages wrote what linkguard inspect writes, from the same records
    written = {path.name for path in (tmp_path / "floor").iterdir()}
    assert {"verdicts.csv", "report.csv", "report.html", "explanations.csv"} <= written
    verdict_rows = (tmp_path / "floor" / "verdicts.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(verdict_rows) == 3000 + 1
