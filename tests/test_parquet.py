"""A sweep folder's metrics.parquet is its metrics.csv: the same rows, the same values bit for bit, the same
column types (pyarrow and pandas come with the test extra)."""

import pandas as pd
import pyarrow.parquet as pq

from collapsim.runs.spec import RunSpec
from collapsim.sweeps.spec import Axis, SweepSpec
from collapsim.output.sweep_folder import execute_sweep


def _same_table(folder):
    """Both files read back with pandas and compared exactly (dtypes included, NaN equal to NaN)."""
    csv = pd.read_csv(folder / "metrics.csv")
    parquet = pd.read_parquet(folder / "metrics.parquet")
    pd.testing.assert_frame_equal(csv, parquet, check_exact=True)
    return csv, pq.read_schema(folder / "metrics.parquet")


def test_a_theory_column_with_and_without_values(tmp_path):
    """ridge 0 has an exact theory, ridge 0.5 none (empty cells): one float column holding numbers and nulls;
    an int axis (samples) and a float axis (ridge) keep their types."""
    base = RunSpec("regression", {"dim": 2}, {}, "replace", "none", samples=8, generations=3, seeds=4, seed=1)
    sweep = SweepSpec(base, (Axis("samples", (8,)), Axis("ridge", (0.0, 0.5))), "final:test_error")
    table, schema = _same_table(execute_sweep(sweep, tmp_path / "s", progress=False).path)
    assert str(schema.field("samples").type) == "int64" and str(schema.field("ridge").type) == "double"
    assert table.loc[table.ridge == 0.0, "theory"].notna().all()
    assert table.loc[table.ridge == 0.5, "theory"].isna().all()


def test_columns_of_empty_cells_only_are_float(tmp_path):
    """Mixing in real data, a chain never collapses: no exact mean and no diffusion approximation anywhere,
    so both columns are empty in the CSV; the Parquet table types them double (not Arrow's null type, which
    pandas reads as objects), and the int columns (censored, cap) stay int."""
    base = RunSpec("categorical", {"vocab": 4}, {}, "mix", "0.5", samples=10, generations=1, seeds=4, seed=0)
    sweep = SweepSpec(base, (Axis("policy", ("mix", "keep-real")),), "collapse", until_collapse=True, cap=5)
    table, schema = _same_table(execute_sweep(sweep, tmp_path / "c", progress=False).path)
    assert table.theory.isna().all() and table.diffusion_approx.isna().all()
    assert [str(schema.field(c).type) for c in ("theory", "diffusion_approx", "censored", "cap", "policy")] == [
        "double", "double", "int64", "int64", "string"]
