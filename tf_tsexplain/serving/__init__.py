"""Serving: explain model artifacts, and export explainers as SavedModel signatures.

TensorFlow Serving answers ``predict`` requests for any signature of a SavedModel but
has no explain endpoint; this package closes the gap both ways. One job per module:

- :mod:`~tf_tsexplain.serving.loading`: artifacts (SavedModel directories, ``.keras``
  files) as models every explainer accepts (:func:`load_model`,
  :class:`SignatureModel`, :func:`check_model_inputs`, :func:`model_inputs`);
- :mod:`~tf_tsexplain.serving.export`: :func:`export_explainer` writes a SavedModel
  whose ``explain`` signature serves attributions next to ``serving_default`` (its
  outputs are listed there), :func:`saved_model_info` reads its settings back;
- :mod:`~tf_tsexplain.serving.explain`: :func:`explain_instances`, the same numbers
  in process;
- :mod:`~tf_tsexplain.serving.responses`: :func:`parse_explain_response` turns a TF
  Serving answer into a tidy table.
"""

from tf_tsexplain.serving._common import EXPLAIN_OUTPUTS, METHODS
from tf_tsexplain.serving.explain import explain_instances
from tf_tsexplain.serving.export import explain_graph, export_explainer, saved_model_info
from tf_tsexplain.serving.loading import (
    SignatureModel,
    check_model_inputs,
    load_model,
    model_input_shape,
    model_inputs,
)
from tf_tsexplain.serving.responses import parse_explain_response

__all__ = [
    "EXPLAIN_OUTPUTS",
    "METHODS",
    "SignatureModel",
    "check_model_inputs",
    "explain_graph",
    "explain_instances",
    "export_explainer",
    "load_model",
    "model_input_shape",
    "model_inputs",
    "parse_explain_response",
    "saved_model_info",
]
