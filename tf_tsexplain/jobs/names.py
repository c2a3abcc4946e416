"""Names of a job's model inputs, and values given per input.

A job handles every model as a set of named inputs: a Keras functional model of
several inputs by its inputs' names, any other model as one input called
:data:`INPUT_NAME`. Sources, blocks, results and the output's ``input`` column use
these names.
"""

from __future__ import annotations

from collections.abc import Mapping

INPUT_NAME = "inputs"  # the one named array of single-input models


def per_input(value, names: list[str], label: str) -> dict:
    """A value given per model input (a dict by name or a list in the model's order)
    as a dict; ``None`` stays None for every input."""
    if value is None:
        return dict.fromkeys(names)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(
                f"`{label}` names inputs the model does not have: {unknown}; its inputs are "
                f"{names}. Received: {label} with keys {list(value)}."
            )
        return {k: value.get(k) for k in names}
    if isinstance(value, list | tuple) and len(value) == len(names):
        return dict(zip(names, value, strict=True))
    raise TypeError(
        f"`{label}` of a model with the inputs {names} must be a dict by input name (or a "
        f"list in that order). Received: {type(value).__name__}."
    )
