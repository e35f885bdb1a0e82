"""collapsim.engine.rng: the written-out Threefry hash gives JAX's words bit for bit (the draws of every
family depend on it), for even and odd counts and under vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32

from collapsim.engine import rng


@pytest.mark.parametrize("n", [1, 2, 7, 1001])
def test_bits_equal_jax_threefry(n):
    for seed in (0, 12345):
        key = jax.random.key(seed)
        ours = np.asarray(rng.bits(key, n))
        jax_words = np.asarray(threefry_2x32(jax.random.key_data(key), jnp.arange(n, dtype=jnp.uint32)))
        assert ours.shape == (n,)
        np.testing.assert_array_equal(ours, jax_words)


def test_bits_equal_under_vmap_and_raw_keys():
    keys = jax.random.split(jax.random.key(7), 5)
    batched = np.asarray(jax.jit(jax.vmap(lambda k: rng.bits(k, 9)))(keys))
    for i in range(5):
        raw = jax.random.key_data(keys[i])
        expected = np.asarray(threefry_2x32(raw, jnp.arange(9, dtype=jnp.uint32)))
        np.testing.assert_array_equal(batched[i], expected)
        np.testing.assert_array_equal(np.asarray(rng.bits(raw, 9)), expected)
