"""Explain an LSTM on variable-length sequences: UEA JapaneseVowels, padded + Masking.

JapaneseVowels: 640 utterances of a Japanese vowel by 9 speakers, 12 LPC cepstrum
channels, 7 to 29 frames each; the task is to tell the speaker. aeon ships the data
inside its package (``aeon.datasets.load_japanese_vowels``), so nothing is
downloaded. The sequences are standardised, post-padded with zeros to 29 frames and
classified by a Masking + LSTM(32) model; then, for a few test utterances:

- expected gradients (references: training utterances) of the predicted speaker;
- TSR of integrated gradients;
- SIS over time steps (which frames alone keep the prediction);
- a dynamic mask (Dynamask): the 20% of cells that keep the predicted speaker's
  probability when the rest is blurred over time.

The padding comes from the model's Masking layer: every method leaves padded frames
unchanged and gives them exactly zero attribution (printed; the mask's blur stops at
the padding and its area counts real cells), and the figures hatch padding grey.

    pip install ".[examples]"          # aeon
    python examples/variable_length_vowels.py --out examples_out/vowels

``main(out, data=...)`` takes any ``(x_train, y_train, x_test, y_test)`` of ragged
``(T_i, F)`` lists, which is what the tests use (synthetic, without aeon).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tf_tsexplain import PathExplainerTF, SISExplainer, TemporalSaliencyRescaling  # noqa: E402
from tf_tsexplain.masks import GaussianBlur, Mask, log_loss  # noqa: E402
from tf_tsexplain.plot import comparison_grid  # noqa: E402


def load_vowels():
    """JapaneseVowels from aeon's bundled files as ragged ``(T_i, 12)`` lists."""
    from aeon.datasets import load_japanese_vowels

    data = []
    for split in ("TRAIN", "TEST"):
        x, y = load_japanese_vowels(split=split)
        data += [[np.asarray(s, np.float32).T for s in x], np.asarray(y).astype(int) - 1]
    return tuple(data)


def pad(sequences, steps, mean, std):
    """Standardised, post-padded with zeros: ``(N, steps, F)`` and ``(N, steps)`` real."""
    out = np.zeros((len(sequences), steps, sequences[0].shape[1]), np.float32)
    real = np.zeros((len(sequences), steps), bool)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = (s - mean) / std
        real[i, : len(s)] = True
    return out, real


def main(
    out: Path,
    data=None,
    epochs: int = 30,
    n_explain: int = 4,
    seed: int = 0,
    mask_epochs: int = 300,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = load_vowels() if data is None else data
    steps = max(len(s) for s in list(x_train) + list(x_test))
    stacked = np.concatenate(x_train)
    mean, std = stacked.mean(0), stacked.std(0) + 1e-6
    train, _ = pad(x_train, steps, mean, std)
    test, real = pad(x_test, steps, mean, std)
    classes = int(max(y_train.max(), y_test.max())) + 1
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((steps, train.shape[2])),
            keras.layers.Masking(0.0),
            keras.layers.LSTM(32),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(train, y_train, epochs=epochs, batch_size=32, verbose=0)
    accuracy = float(np.mean(model.predict(test, verbose=0).argmax(1) == y_test))
    print(f"test accuracy {accuracy:.1%} ({len(test)} utterances, {classes} speakers)")

    x, real_x = test[:n_explain], real[:n_explain]
    explainer = PathExplainerTF(model)
    eg = explainer.attributions(x, train[:64], num_samples=64, output_indices="predicted", seed=0)
    tsr = TemporalSaliencyRescaling(PathExplainerTF(model)).attributions(
        x, np.zeros(x.shape[1:]), num_samples=16, use_expectation=False, output_indices="predicted"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sis = SISExplainer(model, threshold=0.7, mask_over="time").explain(x, max_sis=1)
    mask = Mask(GaussianBlur(sigma_max=2.0), task="classification").fit(
        x, model, loss_function=log_loss, output_indices="predicted", keep_ratio=0.2,
        n_epoch=mask_epochs, learning_rate=1.0, time_reg_factor=0.5,
    )  # fmt: skip
    dynamic = mask.mask_tensor
    on_padding = {
        "expected gradients": float(np.abs(eg[~real_x]).sum()),
        "TSR": float(np.abs(tsr[~real_x]).sum()),
        "dynamic mask": float(dynamic[~real_x].sum()),
    }
    sis_frames = [sorted(int(t) for t, _ in c[0].sis) if c else [] for c in sis]
    print(f"attribution mass on padded frames: {on_padding}")
    print(f"first SIS (frames) of each utterance: {sis_frames}; lengths {real_x.sum(1).tolist()}")
    figures = []
    for i in range(min(2, n_explain)):
        sis_map = np.zeros(x.shape[1:])
        for t in sis_frames[i]:
            sis_map[t] = 1.0
        path = out / f"vowels_{i}.png"
        maps = {
            "expected gradients": eg[i],
            "TSR (integrated gradients)": tsr[i],
            "first SIS (time steps)": sis_map,
            "dynamic mask (area 0.2)": dynamic[i],
        }
        fig, _ = comparison_grid(maps, ncols=2, padding_mask=real_x[i])
        fig.savefig(path, dpi=100)
        plt.close(fig)
        figures.append(path)
    print(f"wrote {', '.join(str(p) for p in figures)}")
    return {
        "accuracy": accuracy,
        "eg": eg,
        "tsr": tsr,
        "sis_frames": sis_frames,
        "mask": dynamic,
        "real": real_x,
        "on_padding": on_padding,
        "figures": figures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out/vowels"))
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    main(args.out, epochs=args.epochs)
