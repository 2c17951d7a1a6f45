"""fastgan: the original GAN (Goodfellow et al., 2014) on MNIST, on fused Triton kernels."""
__version__ = "0.1.0"
