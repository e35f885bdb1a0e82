"""Where a driver's compiled calls run: chains per call (:func:`default_chunk`), the calls spread over the
local devices (:func:`dispatch`), and OpenBLAS held to one thread for the LAPACK families."""

from __future__ import annotations

import concurrent.futures
import contextlib

import jax
import numpy as np

#: Training points per device in one compiled call. Past a few hundred thousand the per-generation working
#: set spills out of cache: 20,000 categorical chains (n = 200) took 15.5 s in one call and 9.8 s in calls
#: of 1,000 chains per device (2 cores).
CALL_POINTS_PER_DEVICE = 2**18


#: A run is split into at least this many calls when each still gets MIN_CALL_CHAINS chains, so 2 or 4
#: devices have work to share; fixed, not read from the device count, so the numbers never depend on it.
MIN_CALLS, MIN_CALL_CHAINS = 4, 256


def default_chunk(cfg, chains: int) -> int:
    """Chains per compiled call: about CALL_POINTS_PER_DEVICE points each (a whole buffer for accumulate),
    at least MIN_CALLS calls when they stay large, evened out so the last one wastes little padding."""
    points = cfg.samples * (cfg.generations if "accumulate" in cfg.policy else 1)
    points += cfg.samples * (cfg.curate - 1)  # curation draws K n points to keep n
    most = max(1, CALL_POINTS_PER_DEVICE // points)
    calls = max(-(-chains // most), min(MIN_CALLS, chains // MIN_CALL_CHAINS), 1)
    return -(-chains // calls)


def dispatch(calls: list, progress=None, sizes=None, parallel: bool = True) -> list:
    """Run ``calls`` (functions of a device returning arrays) round-robin over the local devices.

    One host thread per device, each running whole calls: the CPU client runs one thread's calls one after
    another, so a thread per device is what keeps every core busy (1.8x on 2 cores over one Python thread).
    Whole calls per device rather than one program sharded across devices: with the chains of one program
    sharded over two CPU host devices, two LAPACK custom calls deadlock XLA's thread pool (seen at a few
    thousand 3x3 eigendecompositions per device), and a call's numbers must not depend on how many devices
    share it; for the same reason ``parallel=False`` runs one call at a time. ``progress`` gets the running
    sum of ``sizes`` (default 1 per call) after each round.
    """
    devices = jax.local_devices() if parallel else jax.local_devices()[:1]
    sizes = sizes or [1] * len(calls)
    results, done = [], 0
    # x64 is a thread-local setting (``execute`` turns it on for --precision float64): the pool's threads
    # must be told; a float32 run's threads run exactly as before.
    x64 = bool(jax.config.jax_enable_x64)

    def run(pair):
        call, device = pair
        with jax.enable_x64(True) if x64 else contextlib.nullcontext():
            return jax.tree.map(np.asarray, call(device))

    with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
        for r in range(0, len(calls), len(devices)):
            results.extend(pool.map(run, zip(calls[r:r + len(devices)], devices)))
            done += sum(sizes[r:r + len(devices)])
            if progress is not None:
                progress(done)
    return results


def one_blas_thread():
    """A context in which OpenBLAS (whose LAPACK serves JAX's eigh / SVD on CPU) runs one thread.

    The LAPACK families' chains run one call at a time with the per-chain decompositions batched inside it;
    OpenBLAS's own threads on those small matrices only spin against the caller. Measured on the 2-core
    machine, 100 SVDs of 100 x 100 in one jitted call: 43.8 ms with OpenBLAS's default 2 threads, 16.1 ms
    with one. ``scipy.linalg`` is imported first because it loads that OpenBLAS, and threadpoolctl can only
    limit a library already loaded.
    """
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
