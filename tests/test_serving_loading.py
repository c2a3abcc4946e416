"""serving.loading: artifacts (SavedModel signatures, .keras files) as explainable models."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_support import FS, TS, F, S, T, ig, two_input_ig

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.saliency import Saliency
from tf_tsexplain.serving import check_model_inputs, export_explainer, load_model, model_inputs


def test_explainers_run_on_loaded_artifacts(artifacts, tmp_path):
    model, x = artifacts["model"], artifacts["x"]
    model.export(str(tmp_path / "keras_export"), verbose=False)
    for path in (tmp_path / "keras_export", artifacts["root"] / "model.keras"):
        loaded = load_model(path)
        # eager use first, then the compiled explainer (a TF pitfall for SavedModels)
        np.testing.assert_allclose(np.asarray(loaded(x)), model(x).numpy(), atol=1e-6)
        np.testing.assert_allclose(ig(loaded, x), ig(model, x), atol=1e-6)
        np.testing.assert_allclose(
            Saliency(loaded).attributions(x, output_indices=0),
            Saliency(model).attributions(x, output_indices=0),
            atol=1e-6,
        )
    with pytest.raises(ValueError, match="second derivatives"):
        PathExplainerTF(load_model(tmp_path / "keras_export")).interactions(
            x[:1], np.zeros((1, T, F)), num_samples=2, use_expectation=False,
            output_indices=1, interaction_index=(0, 0),
        )  # fmt: skip
    # a loaded SavedModel can be exported again with its own explain signature
    export_explainer(load_model(tmp_path / "keras_export"), tmp_path / "again", output_indices=1)
    sig = tf.saved_model.load(str(tmp_path / "again")).signatures["explain"]
    got = sig(inputs=tf.constant(x))["attributions"].numpy()
    np.testing.assert_allclose(got, ig(model, x, num_samples=64), atol=1e-6)


def test_load_model_safe_mode(tmp_path):
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.Lambda(lambda z: 2.0 * z), keras.layers.Flatten()]
        + [keras.layers.Dense(1)]
    )
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode=False"):
        load_model(tmp_path / "lambda.keras")
    with pytest.raises(TypeError, match="safe_mode"):
        load_model(tmp_path / "lambda.keras", safe_mode="no")
    x = np.ones((2, T, F), np.float32)
    loaded = load_model(tmp_path / "lambda.keras", safe_mode=False)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_check_model_inputs_kinds_and_shapes(artifacts):
    model = artifacts["model"]
    ints = np.arange(2 * T * F).reshape(2, T, F)
    x = check_model_inputs(model, ints)  # integers are real numbers: converted
    assert x.dtype == np.float32 and np.array_equal(x, ints)
    with pytest.raises(TypeError, match="`inputs`.*dtype"):
        check_model_inputs(model, np.array([[["a"] * F] * T]))
    with pytest.raises(TypeError, match="`inputs`.*dtype bool"):
        check_model_inputs(model, np.ones((1, T, F), bool))
    with pytest.raises(ValueError, match=r"the model expects \(None, 6, 3\)"):
        check_model_inputs(model, np.zeros((1, T, F + 1)))
    with pytest.raises(ValueError, match="NaN"):
        check_model_inputs(model, np.full((1, T, F), np.nan))
    assert np.isnan(check_model_inputs(model, np.full((1, T, F), np.nan), True)).all()
    with pytest.raises(TypeError, match="allow_nonfinite"):
        check_model_inputs(model, np.zeros((1, T, F)), allow_nonfinite="yes")


def test_saved_model_with_several_inputs_is_called_by_name(two_input_artifacts):
    art = two_input_artifacts
    model, x, mask = art["model"], art["x"], art["mask"]
    loaded = load_model(art["root"] / "two_ig")
    assert loaded.input_names == ("sequence", "static")  # the model's order, from the export
    assert loaded.input_name is None and loaded.input_shape is None
    assert model_inputs(loaded) == {"sequence": (TS, FS), "static": (S,)}
    assert model_inputs(model) == {"sequence": (TS, FS), "static": (S,)}
    pred = model([x["sequence"], x["static"]]).numpy()
    np.testing.assert_allclose(loaded(x).numpy(), pred, atol=1e-6)
    # explainers take and return dicts by input name on the loaded signature
    got = two_input_ig(loaded, x, mask)
    expected = two_input_ig(model, x, mask)
    for name in ("sequence", "static"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-6)
    with pytest.raises(TypeError, match=r"takes the inputs \['sequence', 'static'\] by name"):
        loaded(x["sequence"])
    with pytest.raises(ValueError, match=r"missing \['static'\], unexpected \['stat'\]"):
        loaded({"sequence": x["sequence"], "stat": x["static"]})
    with pytest.raises(ValueError, match="also needs input.*static.*leave out input_name"):
        load_model(art["root"] / "two_ig", input_name="sequence")
    one = load_model(art["root"] / "two_ig", fixed_inputs={"static": x["static"][0]})
    assert one.input_name == "sequence"
    np.testing.assert_allclose(
        one(x["sequence"][:1]).numpy(), loaded({k: v[:1] for k, v in x.items()}).numpy(), atol=1e-6
    )


def test_check_model_inputs_several_inputs(two_input_artifacts):
    model, x = two_input_artifacts["model"], two_input_artifacts["x"]
    got = check_model_inputs(model, [x["sequence"], x["static"].astype(int)])  # Keras: a list
    assert list(got) == ["sequence", "static"] and got["static"].dtype == np.float32
    assert (
        list(check_model_inputs(model, {"static": x["static"], "sequence": x["sequence"]}))[0]
        == "sequence"
    )
    with pytest.raises(ValueError, match=r"input names \['sequence', 'static'\].*'seq'"):
        check_model_inputs(model, {"seq": x["sequence"], "static": x["static"]})
    with pytest.raises(ValueError, match=r"takes 2 inputs.*holds 1"):
        check_model_inputs(model, [x["sequence"]])
    with pytest.raises(TypeError, match=r"dict of arrays by input name. Received: ndarray"):
        check_model_inputs(model, x["sequence"])
    with pytest.raises(ValueError, match=r"`inputs\['static'\]` has shape \(4, 4\); .*\(None, 3\)"):
        check_model_inputs(model, {"sequence": x["sequence"], "static": np.zeros((4, 4))})
    with pytest.raises(
        ValueError, match=r"different numbers of rows: \{'sequence': 4, 'static': 2"
    ):
        check_model_inputs(model, {"sequence": x["sequence"], "static": x["static"][:2]})
