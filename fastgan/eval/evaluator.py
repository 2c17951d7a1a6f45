"""The evaluator: MNIST and the classifier held once, sample sets (or a generator) scored.

Scores of samples in [-1, 1], float [n, 784]: classifier FID against the 10,000 test images,
Inception-style score, modes, confident share (fastgan.eval.scores), and the paper's Parzen window
(fastgan.eval.parzen). Training calls it through `score_generator`; fastgan.eval is its command.
"""
import numpy as np

from fastgan import data
from fastgan.eval.classifier import load_or_train, predict
from fastgan.eval.parzen import parzen
from fastgan.eval.trained import sample, sample_members
from fastgan.eval.scores import N_SAMPLES, all_scores


class Evaluator:
    """Holds MNIST and the classifier; scores sample sets in [-1, 1], float [n, 784]."""

    def __init__(self, data_dir=None, device="cpu", log=print, retrain: bool = False,
                 classifier_seed: int = 0):
        folder = data.find(data_dir)
        train_x, train_y = data.load_split(folder, "train")
        test_x, self.test_y = data.load_split(folder, "test")
        self.train = data.to_unit_range(train_x).numpy()          # [60000, 784] in [-1, 1]
        self.test = data.to_unit_range(test_x).numpy()            # [10000, 784]
        self.model = load_or_train(self.train, train_y, device, classifier_seed, log, retrain)
        self.test_feats, self.test_probs = predict(self.model, self.test)

    def scores(self, samples: np.ndarray) -> dict:
        feats, probs = predict(self.model, samples)
        return all_scores(feats, probs, self.test_feats)

    def score_generator(self, G, seed: int, n: int = N_SAMPLES) -> dict:
        """The scores of n samples of a one-member G, z drawn from seed."""
        return self.scores(sample(G, n, seed=seed))

    def score_members(self, G, generators, n: int = N_SAMPLES, batch: int = 2000) -> list[dict]:
        """The scores of n samples of each member of a stacked G, member e's z from
        generators[e]: one batched G forward per `batch` samples of all members, whose
        classifier features are kept and the images dropped (memory grows with E only by the
        features)."""
        feats = [[] for _ in generators]
        probs = [[] for _ in generators]
        for i in range(0, n, batch):
            images = sample_members(G, min(batch, n - i), generators)    # [E, b, 784]
            for e, x in enumerate(images):
                f, p = predict(self.model, x)
                feats[e].append(f)
                probs[e].append(p)
        return [all_scores(np.concatenate(f), np.concatenate(p), self.test_feats)
                for f, p in zip(feats, probs)]

    def parzen(self, samples: np.ndarray) -> dict:
        """The paper's protocol; pixels moved to [0, 1]; sigma picked on train[50000:51000]."""
        to01 = lambda a: (np.asarray(a, dtype=np.float64) + 1.0) / 2.0
        return parzen(to01(samples), to01(self.train[50000:51000]), to01(self.test))

    def reference(self, with_parzen: bool) -> dict:
        """Real images scored as if they were samples: train[:10000] (and the test set's IS)."""
        real = self.train[:N_SAMPLES]
        row = self.scores(real)
        if with_parzen:
            row["parzen"] = self.parzen(real)
        test_row = all_scores(self.test_feats, self.test_probs, self.test_feats)
        return {"real train[:10000]": row, "real test (IS only)": {"is": test_row["is"],
                                                                  "modes": test_row["modes"],
                                                                  "confident": test_row["confident"]}}
