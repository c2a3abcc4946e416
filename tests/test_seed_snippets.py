"""The code of the seed projects' READMEs runs here verbatim, only the imports changed.

Each test holds one snippet of ``shared/seeds`` (path_explain, Dynamask, the SIS
module) as its README writes it; what differs is marked ``# seed: ...``: the import
lines, and small models and data in place of the datasets and pretrained models the
snippets load (for Dynamask also ``torch`` -> ``tf`` and no ``device``). Then the
results are checked.
"""

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled_rows(ax):
    return [t.get_text() for t in ax.get_yticklabels() if t.get_text()]


# ------------------------------------------------------------ path_explain, tabular data
FEATURES = ["age", "is male", "max. achieved heart rate", "resting bp", "cholesterol"]


def datset():  # seed: a small synthetic stand-in for the UCI heart disease data
    rng = np.random.default_rng(0)
    x = rng.normal(size=(260, len(FEATURES))).astype("float32")
    x[:, 1] = rng.integers(0, 2, size=260)  # is male
    logit = 1.5 * x[:, 2] * (2 * x[:, 1] - 1) + 0.8 * x[:, 0] - 0.3 * x[:, 4]
    y = (logit > 0).astype("float32")
    return x[:200], y[:200], x[200:230], y[200:230]


def test_path_explain_tabular_example():
    from tf_tsexplain import PathExplainerTF, scatter_plot, summary_plot

    # fmt: off
    ### Code to train a model would go here
    x_train, y_train, x_test, y_test = datset()
    keras.utils.set_random_seed(0)  # seed: a two-layer network like the paper's
    model = keras.Sequential(
        [
            keras.Input((len(FEATURES),)),
            keras.layers.Dense(16, activation="softplus"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy")
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    ###

    ### Generating attributions using expected gradients
    explainer = PathExplainerTF(model)
    attributions = explainer.attributions(inputs=x_test,
                                          baseline=x_train,
                                          batch_size=100,
                                          num_samples=200,
                                          use_expectation=True,
                                          output_indices=0)
    ###

    ### Generating interactions using expected hessians
    interactions = explainer.interactions(inputs=x_test,
                                          baseline=x_train,
                                          batch_size=100,
                                          num_samples=200,
                                          use_expectation=True,
                                          output_indices=0)
    ###

    ### First we need a list of strings denoting the name of each feature
    feature_names = FEATURES  # seed: feature_names = ...
    ###
    summary_plot(attributions=attributions,
                 feature_values=x_test,
                 feature_names=feature_names,
                 plot_top_k=10)

    scatter_plot(attributions=attributions,
                 feature_values=x_test,
                 feature_index='max. achieved heart rate',
                 interactions=interactions,
                 color_by='is male',
                 feature_names=feature_names,
                 scale_y_ind=True)
    # fmt: on

    assert attributions.shape == x_test.shape
    assert interactions.shape == x_test.shape + x_test.shape[1:]
    # interactions keep the main effect: rows sum to the attributions (Monte Carlo)
    np.testing.assert_allclose(interactions.sum(-1), attributions, atol=0.1)
    summary, scatter = (plt.figure(n) for n in plt.get_fignums())
    assert sorted(_labelled_rows(summary.axes[0])) == sorted(FEATURES)  # top 10 of 5
    panels = [ax for ax in scatter.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3  # attribution, interaction with 'is male', main effect
    assert "is male" in panels[1].get_ylabel()
    assert panels[1].get_ylim() != panels[0].get_ylim()  # scale_y_ind=True
    heart, male = FEATURES.index("max. achieved heart rate"), FEATURES.index("is male")
    np.testing.assert_allclose(
        panels[1].collections[0].get_offsets()[:, 1], interactions[:, heart, male], atol=1e-9
    )


# ------------------------------------------------------------ path_explain, text model
def test_path_explain_nlp_example():
    import tensorflow as tf

    from tf_tsexplain import (
        EmbeddingExplainerTF,
        bar_interaction_plot,
        matrix_interaction_plot,
        text_plot,
    )

    # fmt: off
    # seed: a small embedding + classifier instead of the fine-tuned DistilBERT and
    # two sentences instead of the SST-2 validation set
    # (3 tokens of 2 dimensions: batch_size=1 below sends the 6 Hessian rows of each of
    # the 256 path points to the model one at a time, 3,072 calls for two sentences)
    max_length = 3
    vocabulary = ["[PAD]", "the", "film", "was", "not", "good", "dull"]
    keras.utils.set_random_seed(0)
    embed = keras.layers.Embedding(len(vocabulary), 2)
    classifier = keras.Sequential(
        [
            keras.Input((max_length, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )

    def embedding_model(batch_ids):
        batch_embedding = embed(batch_ids)
        return batch_embedding

    def prediction_model(batch_embedding):
        logits = classifier(batch_embedding)
        return logits

    batch_sentences = [["not", "good", "[PAD]"], ["the", "film", "dull"]]
    batch_ids = tf.constant([[vocabulary.index(w) for w in s] for s in batch_sentences])

    ### We need some data to explain
    batch_embedding = embedding_model(batch_ids)
    baseline_ids = np.zeros((1, max_length), dtype=np.int64)  # seed: (1, 128)
    baseline_embedding = embedding_model(baseline_ids)
    ###

    ### We are finally ready to explain our model
    explainer = EmbeddingExplainerTF(prediction_model)
    attributions = explainer.attributions(inputs=batch_embedding,
                                          baseline=baseline_embedding,
                                          batch_size=32,
                                          num_samples=256,
                                          use_expectation=False,
                                          output_indices=1)
    ###

    ### For interactions, the hessian is rather large so we use a very small batch size
    interactions = explainer.interactions(inputs=batch_embedding,
                                          baseline=baseline_embedding,
                                          batch_size=1,
                                          num_samples=256,
                                          use_expectation=False,
                                          output_indices=1)
    ###
    text_plot(batch_sentences[0],
              attributions[0],
              include_legend=True)
    bar_interaction_plot(interactions[0],
                         batch_sentences[0],
                         top_k=5)
    text_plot(batch_sentences[1],
              attributions[1],
              include_legend=True)
    interaction_list, token_list = interactions, batch_sentences  # seed: defined elsewhere
    matrix_interaction_plot(interaction_list[1],
                            token_list[1])
    # fmt: on

    assert attributions.shape == (2, max_length)
    assert interactions.shape == (2, max_length, max_length)
    # integrated gradients: attributions add up to f(x) - f(baseline) for class 1
    gap = prediction_model(batch_embedding)[:, 1] - prediction_model(baseline_embedding)[:, 1]
    np.testing.assert_allclose(attributions.sum(1), gap, atol=1e-3)
    np.testing.assert_allclose(interactions.sum(-1), attributions, atol=1e-3)
    texts, bars, texts_2, matrix = (plt.figure(n) for n in plt.get_fignums())
    assert [t.get_text() for t in texts.axes[0].texts] == batch_sentences[0]
    assert len(bars.axes[0].patches) == 3  # top_k=5 of the 3 pairs there are
    assert [t.get_text() for t in matrix.axes[0].get_xticklabels()] == batch_sentences[1]


# ------------------------------------------------------------ Dynamask toy examples
def _fit_cells(mask):
    """The cells a fitted mask keeps (m > 0.5) and its largest value before the last step."""
    m = np.asarray(mask.mask_tensor)
    return {tuple(c) for c in np.argwhere(m > 0.5)}, float(m[:-1].max())


def test_dynamask_mask_toy_example():
    import tensorflow as tf  # seed: import torch

    from tf_tsexplain.masks import GaussianBlur, Mask, mse

    # fmt: off
    tf.random.set_seed(42)  # seed: torch.manual_seed(42)
    # seed: no device
    # Define a pseudo-black box:
    def black_box(input):
        output = input[-1, :]  # The black-box returns the features of the last time step
        return output

    # Define a random input:
    X = tf.random.normal((10, 3))  # seed: torch.randn(10, 3).to(device)
    # Fit a mask to the input with a Gaussian Blur perturbation:
    pert = GaussianBlur()  # seed: GaussianBlur(device)
    mask = Mask(pert)  # seed: Mask(pert, device)
    mask.fit(X, black_box, loss_function=mse, keep_ratio=0.1, size_reg_factor_init=0.01) # Select the 10% most important features
    # Plot the resulting saliency map:
    mask.plot_mask()
    # fmt: on

    # the last time step is kept, nothing before it: 3 cells, and the mask of
    # (9, 0) is at 0 because blurring that value over time barely changes it here
    kept, before = _fit_cells(mask)
    assert kept and all(step == 9 for step, _ in kept) and len(kept) >= 2, kept
    assert before < 0.1 and mask.get_error() < 0.01
    # the same fit with the black box written for batches (the fast path) agrees
    batched = Mask(GaussianBlur()).fit(
        X, lambda batch: batch[:, -1, :], keep_ratio=0.1, size_reg_factor_init=0.01
    )
    np.testing.assert_allclose(batched.mask_tensor, mask.mask_tensor, atol=1e-5)
    assert plt.gcf().axes[0].get_title() == "Mask (area 0.1)"


def test_dynamask_mask_group_toy_example():
    import tensorflow as tf  # seed: import torch

    from tf_tsexplain.masks import GaussianBlur, MaskGroup, mse

    # fmt: off
    tf.random.set_seed(42)  # seed: torch.manual_seed(42)
    # seed: no device
    # Define a pseudo-black box:
    def black_box(input):
        output = input[-1, :]  # The black-box returns the features of the last time step
        return output

    # Define a random input:
    X = tf.random.normal((10, 3))  # seed: torch.randn(10, 3).to(device)
    # Fit a group of masks to the input with a Gaussian Blur perturbation:
    areas = [.1, .15, .2, .25]  # These are the areas of the different masks
    pert = GaussianBlur()  # seed: GaussianBlur(device)
    masks = MaskGroup(pert)  # seed: MaskGroup(pert, device)
    masks.fit(X, black_box, loss_function=mse, area_list=areas, size_reg_factor_init=0.01)
    # Extract the extremal mask:
    epsilon = 0.01
    mask = masks.get_extremal_mask(threshold=epsilon)
    # Plot the resulting saliency map:
    mask.plot_mask()
    # fmt: on

    assert mask.keep_ratio == 0.1  # the smallest area is already below epsilon
    kept, before = _fit_cells(mask)
    assert kept and all(step == 9 for step, _ in kept) and before < 0.1, kept
    assert masks.errors.shape == (4,) and (masks.errors < epsilon).all()


def test_black_box_for_one_series_detection_and_errors():
    import tensorflow as tf

    from tf_tsexplain.masks import GaussianBlur, Mask

    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    mask = Mask(GaussianBlur())
    # a batch X and a one-series black box: the switch says how f is written
    mask.fit(x, lambda s: tf.reduce_sum(s[-1]), f_input="series", n_epoch=20, keep_ratio=0.2)
    assert mask.mask_tensor.shape == (2, 6, 3)
    with pytest.raises(ValueError, match="f_input='series'"):
        mask.fit(x, lambda s: s[-1, :], n_epoch=5)  # auto with a batch X: batches only
    with pytest.raises(ValueError, match="on one series|or for one series"):
        mask.fit(x[0], lambda s: s[:, 99], n_epoch=5)  # fits neither
    with pytest.raises(ValueError, match="`f_input` must be one of"):
        mask.fit(x[0], lambda s: s[-1], f_input="rows")


# ------------------------------------------------------------ SIS module docstring
def test_sis_module_example():
    from tf_tsexplain.sis import sis_collection

    # fmt: off
    f_l2 = lambda batch_coords: np.linalg.norm(batch_coords, ord=2, axis=-1)  # noqa: E731
    threshold = 1.0
    initial_input = np.array([0.1, 10, 5])
    fully_masked_input = np.array([0, 0, 0])
    collection = sis_collection(f_l2, threshold, initial_input, fully_masked_input)
    # fmt: on

    # "the two SIS identified are [1] and [2]"
    assert [r.sis.tolist() for r in collection] == [[[1]], [[2]]]
