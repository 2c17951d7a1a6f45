"""Evaluation: the MNIST classifier (classifier), its scores (scores), the paper's Parzen
estimate (parzen), both on samples (evaluator), trained networks from checkpoints and their
samples (trained), D's rejection sampling (rejection), and the `fastgan.sample` and
`fastgan.eval` commands (sample_command, eval_command; `python -m fastgan.eval` runs the
latter)."""
