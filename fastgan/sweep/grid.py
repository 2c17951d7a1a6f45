"""The members of a sweep, from flags that take lists: every fastgan.train flag may take a comma
list of values, and the members are the cartesian product of the lists, seeds varying fastest;
`--members FILE.json` gives the settings as an explicit list instead (each crossed with
--seeds). Each member is a whole TrainConfig that fastgan.train would accept on its own.

Lists: `--lr-g 2e-4,4e-4`; integer flags take ranges too (`--seeds 0-7`); a flag whose value
is itself a list (`--d-hidden 512,256`) separates its alternatives with `/`
(`--d-hidden 512,256/1024,512`); booleans take `true,false`. Flags in config.SHARED (device,
intervals, backend...) take one value for the whole sweep.
"""
import argparse
import dataclasses
import itertools
import json
from pathlib import Path

from fastgan.io.cli import BadType, BadValue, UserError
from fastgan.config import (SHARED, ModelConfig, TrainConfig, field_kind, flag_name,
                            from_flags, validate)

FIELDS = {f.name: f for cls in (TrainConfig, ModelConfig) for f in dataclasses.fields(cls)
          if f.name != "model"}
NOT_FLAGS = ("resume", "eval")       # the sweep's own --resume (its folder) and --no-eval


flag = flag_name


def _kind(name: str):
    """The type of one value of a field: int, float, str, bool or tuple (of ints)."""
    default = getattr(TrainConfig(), name, None)
    if default is None and hasattr(ModelConfig, name):
        default = getattr(ModelConfig(), name)
    return field_kind(FIELDS[name], default)


def _one(name: str, text: str):
    """One value of a field from its text (a 'none' where the field may be unset)."""
    kind, text = _kind(name), text.strip()
    if text.lower() == "none" and FIELDS[name].default is None:
        return None
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "on", "1", "yes")
        if kind is tuple:
            return tuple(int(v) for v in text.split(",") if v.strip())
        value = kind(text)
    except ValueError:
        raise UserError(f"{flag(name)}: invalid {kind.__name__} value {text!r}") from None
    choices = FIELDS[name].metadata.get("choices")
    if choices and value not in choices:
        raise UserError(f"{flag(name)}: invalid choice {value!r} (choose from "
                        f"{', '.join(map(str, choices))})")
    return value


def values(name: str, text: str) -> list:
    """The values of a list flag: comma-separated (ranges a-b for integers; '/' between the
    alternatives of a flag whose value is itself a list)."""
    kind = _kind(name)
    parts = text.split("/") if kind is tuple else text.split(",")
    out = []
    for part in parts:
        if not part.strip():
            continue
        lo, dash, hi = part.strip().partition("-")
        if kind is int and dash and lo.isdigit() and hi.isdigit():
            if int(hi) < int(lo):
                raise UserError(f"{flag(name)}: empty range {part.strip()!r}")
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(_one(name, part))
    if not out:
        raise UserError(f"{flag(name)}: no value in {text!r} (an empty grid)")
    if len(set(map(repr, out))) != len(out):
        raise UserError(f"{flag(name)}: a value is listed twice in {text!r}")
    return out


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field, each taking a list (see the module's docstring)."""
    for name, f in FIELDS.items():
        if name in NOT_FLAGS:
            continue
        help_ = f.metadata.get("help", "")
        if _kind(name) is bool:
            parser.add_argument(flag(name), nargs="?", const="true", metavar="BOOL[,BOOL]",
                                help=f"{help_} (true, false, or true,false)")
            parser.add_argument("--no-" + name.replace("_", "-"), dest=name,
                                action="store_const", const="false", help=argparse.SUPPRESS)
        else:
            meta = "N,N,.../N,N,..." if _kind(name) is tuple else "V[,V...]"
            parser.add_argument(flag(name), metavar=meta, help=help_.replace("%", "%%"))


def parse(given: dict) -> dict:
    """{name: [values]} from the flags' texts (flags not given are left out)."""
    return {name: values(name, text) for name, text in given.items() if text is not None}


def members(lists: dict, settings: list[dict] | None = None) -> tuple[list[dict], list]:
    """Each member's flags (name -> value) and its checked TrainConfig: the product of the lists (name -> [values]) in
    field order, the seed innermost; or, given settings (a members file's entries), each
    setting over the lists' single values, crossed with the seeds. Checks that config.SHARED
    flags take one value, that no two members are the same run, and every member as
    fastgan.train would."""
    lists = {name: list(v) if isinstance(v, (list, range)) else [v] for name, v in lists.items()}
    for name, vals in lists.items():
        if name not in FIELDS or name in NOT_FLAGS:
            raise UserError(f"{name!r} is not a flag of fastgan.train")
        if not vals:
            raise UserError(f"{flag(name)}: no value (an empty grid)")
        if name in SHARED and len(vals) > 1:
            raise UserError(f"{flag(name)} takes one value for the whole sweep (a sweep varies "
                            f"what its members learn, not where they run); got {len(vals)}")
    seeds = lists.pop("seed", [0])
    if settings is not None:
        for name, vals in lists.items():
            if len(vals) > 1:
                raise UserError(f"{flag(name)}: with --members, flags take one value (list the "
                                "settings in the file)")
        for i, s in enumerate(settings):
            if not isinstance(s, dict):
                raise BadType(f"members: entry {i} must be a dict of flag names to values")
            for name in s:
                if name not in FIELDS or name in NOT_FLAGS or name in SHARED or name == "seed":
                    raise BadValue(f"members: entry {i}: {name!r} is not a flag a member may "
                                   "set (see fastgan.sweep --help)")
        settings = [{**{k: v[0] for k, v in lists.items()}, **s} for s in settings]
    else:
        settings = [dict(zip(lists, combo)) for combo in itertools.product(*lists.values())]
    out = [{**setting, "seed": seed} for setting in settings for seed in seeds]
    seen, configs = {}, []
    for i, m in enumerate(out):
        cfg = config(m)
        configs.append(cfg)
        run = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("lr", "lr_d", "lr_g")}
        run.update(d_lr=cfg.d_lr, g_lr=cfg.g_lr)         # what trains, however it was given
        key = json.dumps(run, sort_keys=True, default=str)
        if key in seen:
            raise UserError(f"members {seen[key]} and {i} are the same run ({describe(m)})")
        seen[key] = i
    return out, configs


def read(path: str) -> list[dict]:
    """A members file: a JSON list of objects, flag names (with - or _) to values."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except OSError as e:
        raise UserError(f"--members {path}: cannot read it ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"--members {path}: not JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError:
        raise UserError(f"--members {path}: not a text file (expected a JSON list)") from None
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise UserError(f"--members {path}: expected a non-empty JSON list of objects "
                        "(flag name -> value)")
    out = []
    for i, entry in enumerate(raw):
        setting = {}
        for key, value in entry.items():
            name = key.lstrip("-").replace("-", "_")
            if name not in FIELDS or name in NOT_FLAGS or name in SHARED or name == "seed":
                why = ("is not a flag" if name not in FIELDS or name in NOT_FLAGS else
                       "takes one value for the whole sweep (give it as a flag)"
                       if name in SHARED else "comes from --seeds")
                raise UserError(f"--members {path}: entry {i}: {key!r} {why}")
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            setting[name] = _one(name, text)          # a list is a tuple flag's value
        out.append(setting)
    return out


def config(flags: dict, base: TrainConfig | None = None) -> TrainConfig:
    """A member's TrainConfig, checked as fastgan.train checks its flags."""
    cfg = from_flags(flags, base)
    try:
        validate(cfg)
    except UserError as e:
        raise type(e)(f"{e} ({describe(flags)})") from None
    return cfg


def describe(flags: dict, skip=()) -> str:
    """flags as 'lr_g=0.0002 seed=1' (tuples as 512,256)."""
    show = lambda v: (",".join(map(str, v)) if isinstance(v, (tuple, list)) else
                      f"{v:g}" if isinstance(v, float) else str(v))
    return " ".join(f"{k}={show(v)}" for k, v in flags.items() if k not in skip) or "defaults"


def varied(member_flags: list[dict]) -> list[str]:
    """The flags whose value is not the same for every member, seed included."""
    names = dict.fromkeys(k for m in member_flags for k in m)
    return [n for n in names if len({repr(m.get(n)) for m in member_flags}) > 1]


def setting_of(flags: dict, names: list[str]) -> str:
    """A member's setting: its varied flags but the seed (what its seeds are repeats of)."""
    return describe({k: flags[k] for k in names if k != "seed" and k in flags})
