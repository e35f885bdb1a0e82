"""The data policies' names (what each means is in :mod:`collapsim.engine`). Kept apart so the CLI can
list them without importing JAX."""

POLICIES = ("replace", "mix", "keep-real", "accumulate", "accumulate-subsample")
#: Policies for which a family's sufficient-statistics shortcut is exact.
SHORTCUT_POLICIES = ("replace", "mix")
