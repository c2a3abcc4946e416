"""The demo's synthetic data (the demo, CLI and table tests moved to test_demo.py,
test_cli.py and test_tables.py)."""

import numpy as np
import pytest

from tf_tsexplain.datasets import sequence_regression


def test_sequence_regression_target_and_truth():
    x, y, truth = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=4)
    assert x.shape == truth.shape == (50, 12, 3) and x.dtype == np.float32
    # w = 2, t0 = 4, t1 = 8
    np.testing.assert_allclose(y, x[:, 4:6, 0].mean(1) - x[:, 8:10, 2].mean(1), rtol=1e-5)
    assert truth[0, 4:6, 0].all() and truth[0, 8:10, 2].all() and truth.sum() == 50 * 4
    again, _, _ = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=4)
    np.testing.assert_array_equal(x, again)
    other, _, _ = sequence_regression(50, n_steps=12, n_features=3, noise=0.0, seed=5)
    assert not np.allclose(x, other)
    with pytest.raises(ValueError, match="`n_steps` must be >= 6"):
        sequence_regression(10, n_steps=4)
