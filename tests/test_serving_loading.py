"""serving.loading: artifacts (SavedModel signatures, .keras files) as explainable models."""

import numpy as np
import pytest
import tensorflow as tf
from serving_support import F, T, ig

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.saliency import Saliency
from tf_tsexplain.serving import export_explainer, load_model


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
