"""Configuration as dataclasses; command-line flags are generated from their fields.

Long, by design: every rule about a config lives here (its fields with their help, the groups
of fields a sweep and a resume treat alike, the run's length, the flags both ways, validation),
so that a new option is added in one file.

Every field of TrainConfig (and ModelConfig) is a flag: `batch_size` is `--batch-size`, a bool
`compile` is `--compile/--no-compile`, a tuple is a comma-separated list.
"""
import argparse
import dataclasses
import math
import re
from dataclasses import dataclass, field

from fastgan.io.cli import BadType, BadValue


def opt(default, help, **kw):
    """A config field with its command-line help (and argparse extras such as choices)."""
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class ModelConfig:
    latent_dim: int = opt(100, "size of the noise vector z ~ N(0, I)")
    g_hidden: tuple = opt((384, 768, 1536), "generator hidden widths (1.5 times the common "
                          "256,512,1024: IS 9.07 against 8.97, docs/quality.md)")
    d_hidden: tuple = opt((512, 256), "discriminator hidden widths")
    image_dim: int = opt(784, "pixels per image (28 x 28)")
    negative_slope: float = opt(0.2, "LeakyReLU slope of the hidden layers")
    d_dropout: float = opt(0.1, "dropout rate after each hidden layer of D (the paper used it; "
                                "0.1 measured best, bench/results/quality.md)")
    d_input_dropout: float = opt(0.1, "dropout rate on D's input pixels (the paper used it; 0.1 "
                                      "measured: lower FID, the 1s below 13%)")
    d_maxout: int = opt(0, "maxout pieces per hidden unit of D (0: LeakyReLU units, as G's)")
    d_spectral_norm: bool = opt(False, "spectral normalization of D's weights (Miyato et al. "
                                "2018): each layer uses W / sigma(W), sigma from one power "
                                "iteration per D step")
    d_mbstd: int = opt(4, "minibatch standard deviation (Karras et al. 2018): group size over "
                       "which D appends the mean std of its last hidden features as one more "
                       "feature (0: off; must divide --batch-size; 4 measured: final FID 4.1 "
                       "against 6.9 without, docs/quality.md)")


LR_D, LR_G = 4e-4, 8e-4      # the default learning rates (docs/quality.md, the step-count study)


@dataclass
class TrainConfig:
    device: str = opt("auto", "cpu, cuda, cuda:N, or auto (cuda when available)")
    data_dir: str | None = opt(None, "folder with the four MNIST .gz files "
                               "(else $FASTGAN_DATA, ~/.cache/fastgan/mnist, download)")
    out: str | None = opt(None, "output folder (default runs/<timestamp>)")
    resume: str | None = opt(None, "continue the run in this folder from its last checkpoint")
    epochs: int = opt(330, "passes over the training images (k batches per generator step: "
                      "the default 330 are 32,010 generator steps, where the IS of "
                      "three seeds stop improving, docs/quality.md)")
    steps: int | None = opt(None, "generator steps to train (overrides --epochs)")
    batch_size: int = opt(256, "images per minibatch")
    k: int = opt(2, "discriminator steps per generator step (Algorithm 1)")
    g_loss: str = opt("ns", "generator loss: ns = maximize log D(G(z)), "
                      "minimax = minimize log(1 - D(G(z)))", choices=("ns", "minimax"))
    real_label: float = opt(1.0, "target for real images in the D loss (< 1: one-sided smoothing)")
    lr: float | None = opt(None, "Adam learning rate of both networks (replaces the defaults "
                           f"of --lr-d and --lr-g, {LR_D:g} and {LR_G:g})")
    lr_d: float | None = opt(None, f"discriminator learning rate (default: --lr, else {LR_D:g})")
    lr_g: float | None = opt(None, f"generator learning rate (default: --lr, else {LR_G:g}: G "
                             "learns twice as fast as D)")
    lr_schedule: str = opt("constant", "learning rates over the run: constant, or a linear "
                           "or cosine decay to 0 at the last step, from --lr-decay-start on",
                           choices=("constant", "linear", "cosine"))
    lr_decay_start: float = opt(0.0, "fraction of the run after which --lr-schedule decays "
                                "(0: over the whole run; 0.75: over the last quarter)")
    lr_warmup: int = opt(0, "steps of linear learning-rate warm-up from 0 (0: none)")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    ema_decay: float = opt(0.999, "decay of the moving average of G's weights that samples and "
                           "evaluation use (0: off, the trained G is used)")
    ema_start: int = opt(0, "generator steps before the average starts (until then it is a "
                         "copy of G)")
    g_topk: float = opt(1.0, "top-k generator updates (Sinha et al. 2020): the smallest share "
                        "of each batch's fakes, those D rates highest, that G's loss keeps "
                        "(1: all)")
    g_topk_decay: float = opt(0.99, "per epoch, the kept share of top-k shrinks by this factor "
                              "from 1 down to --g-topk")
    instance_noise: float = opt(0.0, "std of Gaussian noise added to D's inputs (real and "
                                "fake), annealed linearly to 0 by the end of the run")
    share_g_forward: bool = opt(False, "with k = 1, one G forward serves the D step (detached) "
                                "and the G step")
    seed: int = opt(0, "seed; fixes a CPU run bit for bit")
    train_size: int = opt(50000, "training images taken from the 60k (the rest is the paper's "
                          "validation split, used by the Parzen estimate)")
    compile: bool | None = opt(None, "torch.compile the D and G steps (default: on for CUDA, "
                               "off for the CPU where eager measured faster)")
    cuda_graphs: bool = opt(False, "capture Algorithm 1's whole step as a CUDA graph and "
                            "replay it (CUDA only; fastgan.graphs)")
    graph_steps: int = opt(1, "with --cuda-graphs, steps captured in one graph (one replay "
                           "trains this many)")
    backend: str = opt("auto", "op implementation: triton (CUDA / interpreter) or torch "
                       "(the reference); auto picks triton where it runs",
                       choices=("auto", "triton", "torch"))
    precision: str = opt("tf32", "float32 dots in the Triton kernels: tf32 (tensor cores) or "
                         "fp32 (exact ieee)", choices=("fp32", "tf32"))
    log_every: int = opt(100, "steps between log lines (the only host syncs)")
    ckpt_every: int = opt(2000, "steps between checkpoints (one is also written at the end)")
    eval_every: int = opt(0, "epochs between classifier scores on 10k samples (0: none; "
                          "the last epoch is always scored when > 0)")
    target_fid: float | None = opt(None, "stop once the classifier FID is at or below this "
                                   "(scores every epoch unless --eval-every says otherwise)")
    eval: bool = opt(True, "score the averaged G at the end of the run as fastgan.eval does "
                     "(classifier FID, IS, modes, class shares of 10k samples; seconds on a "
                     "CPU); --no-eval skips it")
    reject: float = opt(0.4, "the final scores also of the samples D keeps (discriminator "
                        "rejection sampling, fastgan.eval.rejection): each with probability "
                        "min(1, exp(logit - M)), M this quantile of D's logits (0.4 keeps "
                        "about 89%; 0: skip); what fastgan.sample --reject draws")
    progress: bool = opt(True, "live progress bar on a terminal")
    tensorboard: bool = opt(True, "write TensorBoard logs when tensorboard is installed")
    model: ModelConfig = field(default_factory=ModelConfig)

    @property
    def d_lr(self) -> float:
        """D's learning rate: --lr-d, else --lr, else LR_D."""
        return self.lr_d if self.lr_d is not None else self.lr if self.lr is not None else LR_D

    @property
    def g_lr(self) -> float:
        """G's learning rate: --lr-g, else --lr, else LR_G."""
        return self.lr_g if self.lr_g is not None else self.lr if self.lr is not None else LR_G


# How members of a sweep may differ. Each member is a whole TrainConfig; members that agree on
# SHAPE train batched in one group (one launch per layer for all of them), and within a group
# every other field may differ per member (rates, labels, seeds, schedules become tensors of E
# or per-member host floats). SHARED fields are one value for the whole sweep.
SHAPE = ("latent_dim", "g_hidden", "d_hidden", "image_dim", "negative_slope", "d_maxout",
         "d_spectral_norm", "d_mbstd", "batch_size", "k", "share_g_forward", "train_size",
         "epochs", "steps", "g_topk", "g_topk_decay")
SHARED = ("device", "data_dir", "out", "resume", "compile", "cuda_graphs", "graph_steps",
          "backend", "precision", "log_every", "ckpt_every", "eval_every", "target_fid", "eval",
          "reject", "progress", "tensorboard")
# What a resumed run (or sweep) may not change: the model, the data order, the state's shape.
FIXED_ON_RESUME = ("seed", "batch_size", "train_size", "k", "share_g_forward", "ema_decay",
                   "latent_dim", "g_hidden", "d_hidden", "image_dim", "negative_slope",
                   "d_dropout", "d_input_dropout", "d_maxout", "d_spectral_norm", "d_mbstd",
                   "ema_start")


def steps_per_epoch(cfg: "TrainConfig") -> int:
    """Generator steps per pass over the training images (k minibatches each; the last partial
    minibatch is dropped)."""
    return (min(cfg.train_size, 60000) // cfg.batch_size) // cfg.k


def total_steps(cfg: "TrainConfig") -> int:
    """The run's length in generator steps: --steps, else --epochs passes."""
    return cfg.steps or cfg.epochs * steps_per_epoch(cfg)


def field_value(cfg: "TrainConfig", name: str):
    """A flag's value in cfg, model fields included."""
    return getattr(cfg.model, name) if hasattr(cfg.model, name) else getattr(cfg, name)


def group_key(cfg: "TrainConfig") -> tuple:
    """What members must share to train batched in one group."""
    return tuple(field_value(cfg, name) for name in SHAPE)


def _parse_tuple(text):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _none_or(kind):
    def parse(text):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def field_kind(f: dataclasses.Field, default) -> type:
    """The type of one value of a config field: bool, tuple (of ints), int, float or str."""
    if isinstance(default, bool) or f.type == (bool | None):
        return bool
    if isinstance(default, tuple):
        return tuple
    if isinstance(default, (int, float, str)):
        return type(default)
    return int if "int" in str(f.type) else float if "float" in str(f.type) else str


def flag_name(name: str) -> str:
    """A field's flag: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def add_flags(parser, cls) -> None:
    """Adds one flag per field of the dataclass cls (nested dataclasses flattened)."""
    defaults = cls()
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name)
        if dataclasses.is_dataclass(default):
            add_flags(parser, type(default))
            continue
        flag = flag_name(f.name)
        extra = {k: v for k, v in f.metadata.items() if k != "help"}
        help_ = f.metadata.get("help", "")
        if "default" not in help_:
            help_ += f" (default: {default})"
        help_ = help_.replace("%", "%%")             # argparse formats help with %
        kind = field_kind(f, default)
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_)
        elif kind is tuple:
            parser.add_argument(flag, type=_parse_tuple, help=help_, metavar="N,N,...")
        else:
            parser.add_argument(flag, type=_none_or(kind), help=help_, **extra)


def to_flags(flags: dict, skip=("seed", *SHARED)) -> list[str]:
    """Field values (name -> value) as the command line that gives them (add_flags' inverse),
    less the fields in skip (by default the seed and what only says where and how often)."""
    out = []
    for name, value in flags.items():
        if name in skip:
            continue
        flag = flag_name(name)
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (list, tuple)):
            out += [flag, ",".join(str(v) for v in value)]
        else:
            out += [flag, str(value)]
    return out


def from_flags(args: dict, base: TrainConfig | None = None) -> TrainConfig:
    """A TrainConfig from base (or the defaults) with the given flags (name -> value) applied."""
    cfg = dataclasses.replace(base) if base else TrainConfig()
    model = dataclasses.replace(cfg.model)
    for name, value in args.items():
        if hasattr(model, name):
            setattr(model, name, value)
        elif hasattr(cfg, name):
            setattr(cfg, name, value)
    cfg.model = model
    return cfg


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    model = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in d.pop("model", {}).items()})
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in d.items() if k in names}, model=model)


def check_types(cfg: TrainConfig) -> None:
    """Raises BadType (a TypeError, and one line with exit 2 from a command) naming the first
    field whose value is not of its kind (what an API caller can set: fit(epochs="3"))."""
    if not isinstance(cfg, TrainConfig) or not isinstance(cfg.model, ModelConfig):
        raise BadType(f"expected a TrainConfig with a ModelConfig, got {type(cfg).__name__}")
    for obj in (cfg, cfg.model):
        defaults = type(obj)()
        for f in dataclasses.fields(obj):
            if f.name == "model":
                continue
            value, default = getattr(obj, f.name), getattr(defaults, f.name)
            kind = field_kind(f, default)
            if value is None and (default is None or "None" in str(f.type)):
                continue
            ok = {bool: lambda v: isinstance(v, bool),
                  int: lambda v: isinstance(v, int) and not isinstance(v, bool),
                  float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                  str: lambda v: isinstance(v, str),
                  tuple: lambda v: isinstance(v, (tuple, list)) and all(
                      isinstance(x, int) and not isinstance(x, bool) for x in v)}[kind](value)
            if not ok:
                want = {tuple: "a tuple of ints", int: "an int"}.get(kind, f"a {kind.__name__}")
                raise BadType(f"{f.name} must be {want}, got {value!r} "
                              f"({type(value).__name__})")


FINITE = ("lr", "lr_d", "lr_g", "target_fid", "instance_noise", "real_label", "beta1", "beta2",
          "ema_decay", "reject", "lr_decay_start", "g_topk", "g_topk_decay", "negative_slope",
          "d_dropout", "d_input_dropout")


def validate(cfg: TrainConfig) -> None:
    """Raises BadValue (a ValueError; from a command one line and exit 2) naming the first bad
    field, or BadType for a value of the wrong type."""
    check_types(cfg)
    for name in FINITE:
        value = field_value(cfg, name)
        if value is not None and not math.isfinite(value):
            raise BadValue(f"{flag_name(name)} must be a finite number, got {value}")
    checks = [(re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device) is not None,
               f"--device {cfg.device}: use cpu, cuda, cuda:N or auto"),
              (cfg.seed >= 0, f"--seed must be a non-negative integer, got {cfg.seed}"),
              (cfg.seed < 2 ** 63, "--seed must be below 2**63"),
              (len(cfg.model.g_hidden) >= 1 and len(cfg.model.d_hidden) >= 1,
               "--g-hidden and --d-hidden need at least one layer size each"),
              (cfg.target_fid is None or cfg.target_fid > 0, "--target-fid must be > 0"),(cfg.batch_size >= 1, "--batch-size must be >= 1"), (cfg.k >= 1, "--k must be >= 1"),
              (cfg.epochs >= 1, "--epochs must be >= 1"),
              (cfg.steps is None or cfg.steps >= 1, "--steps must be >= 1"),
              (cfg.lr is None or cfg.lr > 0, "--lr must be > 0"),
              (cfg.lr_d is None or cfg.lr_d > 0, "--lr-d must be > 0"),
              (cfg.lr_g is None or cfg.lr_g > 0, "--lr-g must be > 0"),
              (0 <= cfg.ema_decay < 1, "--ema-decay must be in [0, 1) (0 turns it off)"),
              (0 <= cfg.reject < 1, "--reject must be in [0, 1) (0 skips it)"),
              (cfg.ema_start >= 0, "--ema-start must be >= 0"),
              (0 <= cfg.lr_decay_start < 1, "--lr-decay-start must be in [0, 1)"),
              (cfg.lr_warmup >= 0, "--lr-warmup must be >= 0"),
              (0 < cfg.g_topk <= 1, "--g-topk must be in (0, 1] (1 turns it off)"),
              (0 < cfg.g_topk_decay <= 1, "--g-topk-decay must be in (0, 1]"),
              (cfg.model.d_mbstd == 0 or cfg.model.d_mbstd >= 2,
               "--d-mbstd must be 0 (off) or a group of >= 2 images"),
              (cfg.model.d_mbstd == 0 or cfg.batch_size % cfg.model.d_mbstd == 0,
               f"--d-mbstd {cfg.model.d_mbstd} must divide --batch-size {cfg.batch_size} "
               "(--d-mbstd 0 turns the feature off)"),
              (cfg.instance_noise >= 0, "--instance-noise must be >= 0"),
              (not cfg.share_g_forward or cfg.k == 1, "--share-g-forward needs --k 1"),
              (0 <= cfg.model.d_dropout < 1, "--d-dropout must be in [0, 1)"),
              (0 <= cfg.model.d_input_dropout < 1, "--d-input-dropout must be in [0, 1)"),
              (cfg.model.d_maxout == 0 or 2 <= cfg.model.d_maxout <= 16,
               "--d-maxout must be 0 (off) or 2..16 pieces"),
              (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1, "--beta1/--beta2 must be in [0, 1)"),
              (0 < cfg.real_label <= 1, "--real-label must be in (0, 1]"),
              (cfg.log_every >= 1 and cfg.ckpt_every >= 1, "--log-every/--ckpt-every must be >= 1"),
              (cfg.graph_steps >= 1, "--graph-steps must be >= 1"),
              (1 <= cfg.train_size <= 60000, "--train-size must be in [1, 60000]"),
              (cfg.k < 1 or cfg.batch_size < 1 or cfg.batch_size > cfg.train_size
               or steps_per_epoch(cfg) >= 1,
               f"--train-size {cfg.train_size} holds fewer than k={cfg.k} batches of "
               f"{cfg.batch_size}"),
              (cfg.eval_every >= 0, "--eval-every must be >= 0"),
              (0 < cfg.model.negative_slope < 1, "--negative-slope must be in (0, 1)"),
              (cfg.model.latent_dim >= 1 and all(h >= 1 for h in cfg.model.g_hidden + cfg.model.d_hidden),
               "layer sizes must be >= 1"),
              (cfg.model.image_dim == 784, "--image-dim must be 784 for MNIST")]
    for ok, message in checks:
        if not ok:
            raise BadValue(message)
