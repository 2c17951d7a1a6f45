"""Sample-quality scores from a classifier's features and class probabilities (NumPy, float64).

classifier FID: the Frechet distance between Gaussians fitted to two feature sets,
    |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
computed with symmetric eigendecompositions (no general matrix square root needed).
Inception-style score: exp(E_x KL(p(y|x) || p(y))). Modes: classes holding >= 2% of samples.
Confident: the share of samples whose top class probability exceeds 0.9.
"""
import numpy as np

N_SAMPLES = 10000      # samples scored per evaluation (the test set's size)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _sqrt_psd(s1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()  # tr (.)^1/2
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross)


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    marginal = probs.mean(0, keepdims=True)
    kl = (probs * (np.log(probs + eps) - np.log(marginal + eps))).sum(1)
    return float(np.exp(kl.mean()))


def class_histogram(probs: np.ndarray) -> np.ndarray:
    return np.bincount(probs.argmax(1), minlength=probs.shape[1])


def modes_covered(probs: np.ndarray, share: float = 0.02) -> int:
    return int((class_histogram(probs) >= share * len(probs)).sum())


def confident_share(probs: np.ndarray, threshold: float = 0.9) -> float:
    return float((probs.max(1) > threshold).mean())


def all_scores(feats, probs, ref_feats) -> dict:
    """The classifier scores of one sample set against reference (test) features."""
    return {"fid": frechet_distance(feats, ref_feats), "is": inception_score(probs),
            "modes": modes_covered(probs), "confident": confident_share(probs),
            "histogram": class_histogram(probs).tolist()}
