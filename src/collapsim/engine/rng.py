"""Uniform and normal draws at twice the throughput of ``jax.random.uniform`` / ``normal`` on CPU.

Why: with JAX's default partitionable Threefry, every 32-bit output word costs one whole Threefry-2x32
hash, whose two output words are XORed into one. :func:`jax.extend.random.threefry_2x32` applied to a counter
array of length n returns n words from n / 2 hashes (Salmon et al. 2011, the Random123 counter-based
generator: each hash of (key, counter pair) gives two independent words). Measured on the 2-core development
machine, 250 chains x 50 generations x 1,000 uniforms in a vmapped scan: 2.6 ns per uniform against 6 to 11
ns for ``jax.random.uniform``. The words depend only on the key and the position, so a chain's numbers are the
same on any number of devices and under vmap.

JAX's other bit generators were measured in the same layout: ``rbg`` 5.2 ns and ``unsafe_rbg`` 10 ns per
uniform against Threefry's 5.9 ns (one core), too little to change the key type the whole engine uses.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend.random import threefry_2x32


def bits(key: jax.Array, n: int) -> jax.Array:
    """n uint32 words (n,) from a typed or raw Threefry key: the hash of counters 0..n-1, two words per hash."""
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return threefry_2x32(data, jnp.arange(n, dtype=jnp.uint32))


def uniform(key: jax.Array, shape) -> jax.Array:
    """float32 uniforms on [0, 1) of ``shape``: the top 23 bits of a word as the mantissa of a number in [1, 2)."""
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    size = 1
    for s in shape:
        size *= s
    words = bits(key, size).reshape(shape)
    return jax.lax.bitcast_convert_type((words >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0


def normal(key: jax.Array, shape) -> jax.Array:
    """float32 standard normals of ``shape`` by inversion, sqrt(2) erfinv(2u - 1), as ``jax.random.normal`` does
    (u kept strictly inside (-1, 1) so no draw is infinite)."""
    lo = jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0))
    u = jnp.maximum(uniform(key, shape) * 2.0 - 1.0, lo)
    return jnp.float32(2.0**0.5) * jax.lax.erf_inv(u)
