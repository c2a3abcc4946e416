"""The model adapter's memory estimate: what one model row costs, for Keras models and
for callables whose layers cannot be read."""

import keras
import numpy as np
import pytest

from tf_tsexplain import Saliency
from tf_tsexplain._model import activation_floats, row_bytes
from tf_tsexplain._structure import InputStructure


def _recurrent(layer, steps, features):
    model = keras.Sequential([keras.Input((steps, features)), layer, keras.layers.Dense(2)])
    return model, (lambda batch: model(batch, training=False))


@pytest.mark.parametrize(
    "layer, steps, features",
    [
        (keras.layers.GRU(200), 200, 3),  # the State benchmark's black box
        (keras.layers.LSTM(256, return_sequences=True), 100, 1),
        (keras.layers.GRU(32), 50, 40),
    ],
)
@pytest.mark.parametrize("order", [0, 1, 2])
def test_a_callable_is_never_estimated_cheaper_than_the_keras_model_it_wraps(
    layer, steps, features, order
):
    model, fn = _recurrent(layer, steps, features)
    assert activation_floats(fn, (steps, features)) is None  # layers unreadable
    known = row_bytes(model, (steps, features), 4, order)
    unknown = row_bytes(fn, (steps, features), 4, order)
    assert unknown >= known


def test_the_estimate_of_a_callable_grows_with_the_steps_of_flat_rows():
    """Flat rows ``(D,)`` of a multi-input model carry no time axis: the structure's
    steps give the same estimate as the sequence input's own shape."""
    structure = InputStructure("list", ["seq", "static"], [(200, 3), (5,)])
    assert structure.steps == 200
    assert InputStructure("list", ["a", "b"], [(4,), (5,)]).steps == 1

    def fn(batch):
        return batch

    flat = row_bytes(fn, (structure.size,), 4, 1, steps=structure.steps)
    assert flat >= row_bytes(fn, (200, 3), 4, 1)
    assert flat > row_bytes(fn, (structure.size,), 4, 1)  # without the steps: lower


def test_a_callable_around_a_wide_recurrent_layer_gets_the_keras_models_chunk():
    """The default chunk of a callable around GRU(200) over 200 x 3 stays within the
    memory budget the Keras model's own estimate allows (the earlier estimate gave 17x the rows)."""
    model, fn = _recurrent(keras.layers.GRU(200), 200, 3)
    x = np.zeros((2, 200, 3), np.float32)
    by_model = Saliency(model)._rows_per_call(x, None)
    by_callable = Saliency(fn)._rows_per_call(x, None)
    assert by_callable <= by_model
    assert by_callable >= by_model // 2  # conservative, not crippling
