"""serving.explain: explain_instances, the explain signature's numbers in process."""

import numpy as np
import tensorflow as tf

from tf_tsexplain.serving import explain_instances


def test_in_process_explain_matches_the_signature(artifacts):
    model, x = artifacts["model"], artifacts["x"]
    sig = tf.saved_model.load(str(artifacts["root"] / "ig")).signatures["explain"]
    served = {k: v.numpy() for k, v in sig(inputs=tf.constant(x)).items()}
    local = explain_instances(model, x, num_samples=32, output_indices=1)
    for key in ("attributions", "explained_prediction", "baseline_prediction"):
        np.testing.assert_allclose(local[key], served[key], atol=1e-6)
    np.testing.assert_array_equal(local["explained_index"], served["explained_index"])
