"""A sweep over several processes: which chunks this process computes, and how process 0 gathers the
others' chunk files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from collapsim.sweeps.chunks import _chunk_path, read_chunk_file, write_chunk_file


def _process() -> tuple[int, int]:
    """(this process's index, process count): (0, 1) unless ``jax.distributed.initialize`` was called."""
    import jax

    return jax.process_index(), jax.process_count()


def _distributed_client():
    from jax._src import distributed  # the coordination service's key-value store (no public handle yet)

    return distributed.global_state.client


#: How long process 0 waits for another process's chunk before giving up (seconds).
GATHER_TIMEOUT_S = 24 * 3600


def _exchange(folder: Path, chunks: list, mine: list, fingerprint: str, rank: int) -> None:
    """Multi-process: publish this process's chunk files in the key-value store; process 0 fetches the rest."""
    client = _distributed_client()
    for c in mine:
        client.key_value_set_bytes(f"collapsim-sweep/{fingerprint}/{c.index}", _chunk_path(folder, c.index).read_bytes())
    if rank != 0:
        return
    for c in chunks:
        if read_chunk_file(folder, c.index, fingerprint) is None:
            blob = client.blocking_key_value_get_bytes(f"collapsim-sweep/{fingerprint}/{c.index}", GATHER_TIMEOUT_S * 1000)
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k != "fingerprint"}
            write_chunk_file(folder, c.index, arrays, fingerprint)
