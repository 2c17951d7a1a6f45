"""The paper's figure 1 in one dimension: exact densities (density) and a 1-D GAN trained to
the equilibrium (gan1d; `python -m fastgan.toy1d`)."""
