"""Saved stable-baselines3 models as policies: ``save`` writes a model with its sidecars, ``load``
checks and reads them back as a :class:`TrainedPolicy`.

A saved model is three files side by side (``DIR/best_model.zip`` gives the stem ``best_model``):

=============================  ==================================================================
file                           contents
=============================  ==================================================================
``<stem>.zip``                 the SB3 model (``model.save``)
``<stem>.vecnormalize.pkl``    the observation statistics of SB3's ``VecNormalize`` (only when the
                               model was trained under one; ``VecNormalize.save``)
``<stem>.meta.json``           what the zip does not say: format ``"dma_gym-sb3/1"``, ``algo``
                               (``ppo``, ``sac``, ``td3``), ``scenario`` and ``env_kwargs`` (the
                               config overrides of the training env), ``observation_shape``,
                               ``action_shape``, ``num_timesteps``, ``vecnormalize`` (the file name
                               or null), ``seed`` and the ``versions`` of dma_gym, stable-baselines3,
                               torch, numpy and gymnasium
=============================  ==================================================================

Loading a model unpickles parts of it (SB3 stores the policy class and the spaces with
cloudpickle, and the ``VecNormalize`` statistics are a pickle): load only files you trust.
Importing this module imports torch and stable-baselines3.
"""
from __future__ import annotations

import base64
import json
import os
import pickle
import pickletools
import warnings
import zipfile
from pathlib import Path
from typing import Any, Optional

import gymnasium
import numpy as np
import stable_baselines3 as sb3
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

import dma_gym
from agents.base import check_observation
from dma_gym.config.params import AlmgrenChrissConfig, MarketConfig

FORMAT = "dma_gym-sb3/1"
ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": sb3.PPO, "sac": sb3.SAC, "td3": sb3.TD3}
_META_KEYS = ("format", "algo", "scenario", "env_kwargs", "observation_shape", "action_shape")
# module of the saved policy class -> algorithm (ActorCriticPolicy also serves A2C: see _infer_algo)
_POLICY_MODULES = {"stable_baselines3.common.policies": "ppo", "stable_baselines3.sac.policies": "sac",
                   "stable_baselines3.td3.policies": "td3"}


def sidecars(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(model zip, ``.meta.json``, ``.vecnormalize.pkl``) paths of a saved model; ``.zip`` is
    appended to ``path`` when missing."""
    p = Path(path)
    if not p.name.endswith(".zip"):
        p = p.with_name(p.name + ".zip")
    stem = p.name[: -len(".zip")]
    return p, p.with_name(stem + ".meta.json"), p.with_name(stem + ".vecnormalize.pkl")


def save(model: BaseAlgorithm, path: str | os.PathLike, *, algo: str, scenario: str, env_kwargs: dict,
         vec_normalize: Optional[VecNormalize] = None, seed: Optional[int] = None) -> Path:
    """Save ``model`` as ``path`` (``.zip`` appended when missing) with its sidecars (module docstring).

    Each file is written under a temporary name and renamed into place; the old ``.meta.json`` is
    removed first and the new one written last, so an interrupted save leaves no meta that
    describes other files (a zip without meta still loads; see :func:`load`). A stale
    ``.vecnormalize.pkl`` is removed when ``vec_normalize`` is None.

    Args:
        model: a stable-baselines3 PPO, SAC or TD3 model.
        path: the model file, e.g. ``runs/x/best_model.zip``; its folder is created.
        algo: ``"ppo"``, ``"sac"`` or ``"td3"``; must be ``model``'s class.
        scenario: the training env's scenario (``dma_gym.scenarios.names()``).
        env_kwargs: its config overrides (JSON values), as passed to ``make_sb3_vec_env``.
        vec_normalize: the ``VecNormalize`` the model was trained under, if any: its observation
            statistics are saved (reward statistics too, unused by :class:`TrainedPolicy`).
        seed: the training seed, recorded in the meta.

    Returns:
        The path of the model zip.

    Raises:
        ValueError: an unknown algo or one that is not ``model``'s class, an unknown scenario or
            invalid overrides (naming the field), overrides that are not JSON, or a
            ``vec_normalize`` that is not a ``VecNormalize`` of the model's observation shape.
    """
    if algo not in ALGOS:
        raise ValueError(f"algo={algo!r}: expected one of {', '.join(ALGOS)}")
    if not isinstance(model, ALGOS[algo]):
        raise ValueError(f"algo={algo!r} but model is a {type(model).__name__}, not a {ALGOS[algo].__name__}")
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"env_kwargs must be a dict of config overrides, got {type(env_kwargs).__name__}")
    dma_gym.scenarios.get(scenario, **env_kwargs)  # ValueError naming the scenario or field
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed={seed!r}: expected an int or None")
    obs_shape = list(model.observation_space.shape)
    if vec_normalize is not None:
        if not isinstance(vec_normalize, VecNormalize):
            raise ValueError(f"vec_normalize must be a stable_baselines3 VecNormalize or None, "
                             f"got {type(vec_normalize).__name__}")
        if vec_normalize.observation_space.shape != model.observation_space.shape:
            raise ValueError(f"vec_normalize observes shape {vec_normalize.observation_space.shape}, the model "
                             f"{model.observation_space.shape}")
    zpath, meta_path, vn_path = sidecars(path)
    meta = {
        "format": FORMAT,
        "algo": algo,
        "scenario": scenario,
        "env_kwargs": env_kwargs,
        "observation_shape": obs_shape,
        "action_shape": list(model.action_space.shape),
        "num_timesteps": int(model.num_timesteps),
        "vecnormalize": vn_path.name if vec_normalize is not None else None,
        "seed": None if seed is None else int(seed),
        "versions": {"dma_gym": dma_gym.__version__, "stable_baselines3": sb3.__version__,
                     "torch": torch.__version__, "numpy": np.__version__, "gymnasium": gymnasium.__version__},
    }
    try:
        meta_text = json.dumps(meta, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValueError(f"env_kwargs={env_kwargs!r} cannot be written as JSON: {exc}") from None

    zpath.parent.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    _write_atomic(zpath, model.save)
    if vec_normalize is not None:
        _write_atomic(vn_path, lambda tmp: vec_normalize.save(str(tmp)))
    else:
        vn_path.unlink(missing_ok=True)
    _write_atomic(meta_path, lambda tmp: tmp.write_text(meta_text))
    return zpath


def _write_atomic(path: Path, write) -> None:
    """``write(tmp)`` to a temporary name beside ``path`` (its ``.tmp`` suffix keeps SB3 from
    appending ``.zip``), then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: str | os.PathLike, device: str = "cpu", *, name: Optional[str] = None) -> "TrainedPolicy":
    """The saved model at ``path`` (written by :func:`save`) as a :class:`TrainedPolicy`.

    Checks, in order: the zip exists and is a readable zip with SB3's ``data`` member; the
    ``.meta.json`` (if present) is in this format, names a known algo and scenario with valid
    overrides and agrees with the zip; SB3 loads the model; the meta's observation and action
    shapes are the model's; the ``vecnormalize`` file it names exists, loads and has the model's
    observation shape. Without a ``.meta.json`` (or with one that is not JSON: a warning) the
    algorithm is read from the policy class recorded in the zip and the scenario is unknown (None).

    Loading unpickles the policy class, the spaces and the ``VecNormalize`` statistics, as
    stable-baselines3's own ``load`` does: load only files you trust.

    Args:
        path: the model zip (``.zip`` may be left out).
        device: torch device of the loaded model.
        name: the policy's label (default: the algo).

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    zpath, meta_path, _ = sidecars(path)
    if not zpath.is_file():
        raise ValueError(f"{zpath}: no such model file")
    data = _read_data(zpath)
    inferred = _infer_algo(data)
    meta = _read_meta(meta_path)
    if meta is None:
        if inferred is None:
            raise ValueError(f"{zpath}: cannot tell which algorithm saved it: no readable {meta_path.name}, and "
                             f"its policy class {_policy_class_name(data)} {_why_not_inferred(data)}")
        algo, scenario, env_kwargs = inferred, None, {}
    else:
        algo, scenario, env_kwargs = meta["algo"], meta["scenario"], meta["env_kwargs"]
        if inferred is not None and inferred != algo:
            raise ValueError(f"{meta_path}: algo {algo!r} but {zpath.name} holds a {inferred} policy "
                             f"({_policy_class_name(data)})")
    try:
        model = ALGOS[algo].load(zpath, device=device)
    except Exception as exc:  # SB3, torch and cloudpickle raise many kinds on a damaged file
        raise ValueError(f"{zpath}: stable-baselines3 could not load it as {algo}: "
                         f"{type(exc).__name__}: {exc}") from None
    vec_normalize = None
    if meta is not None:
        for key, sp in (("observation_shape", model.observation_space), ("action_shape", model.action_space)):
            if tuple(meta[key]) != tuple(sp.shape):
                raise ValueError(f"{meta_path}: {key} {tuple(meta[key])} but the model in {zpath.name} has "
                                 f"{tuple(sp.shape)}")
        if meta.get("vecnormalize") is not None:
            vec_normalize = _read_vec_normalize(meta_path, meta["vecnormalize"], model)
    try:
        return TrainedPolicy(model, algo=algo, scenario=scenario, env_kwargs=env_kwargs,
                             vec_normalize=vec_normalize, path=zpath, name=name, meta=meta)
    except ValueError as exc:
        raise ValueError(f"{zpath}: {exc}") from None


def _read_data(zpath: Path) -> dict:
    """The zip's ``data`` JSON (read as text: nothing is unpickled)."""
    try:
        with zipfile.ZipFile(zpath) as z:
            members = z.namelist()
            # zipfile finds the last archive in a file: a truncated model can end with one of its
            # embedded torch archives (stored uncompressed), which then starts past byte 0
            start = min((i.header_offset for i in z.infolist()), default=0)
            bad = z.testzip() if "data" in members and start == 0 else None
            raw = z.read("data") if "data" in members and bad is None else b""
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ...: zipfile raises several on damage
        raise ValueError(f"{zpath}: not a zip file, or a truncated or damaged one "
                         f"({type(exc).__name__}: {exc})") from None
    if start != 0:
        raise ValueError(f"{zpath}: not a zip file, or a truncated one: the only zip archive found starts at "
                         f"byte {start}, not 0 (members: {', '.join(members[:4])})")
    if "data" not in members:
        raise ValueError(f"{zpath}: not a stable-baselines3 model: the zip has no 'data' member "
                         f"(members: {', '.join(members[:8]) or 'none'})")
    if bad is not None:
        raise ValueError(f"{zpath}: damaged zip: member {bad!r} fails its CRC check")
    try:
        data = json.loads(raw.decode())
    except ValueError as exc:
        raise ValueError(f"{zpath}: the 'data' member is not JSON ({exc}): not a stable-baselines3 model") from None
    if not isinstance(data, dict) or "policy_class" not in data:
        raise ValueError(f"{zpath}: the 'data' member has no policy_class: not a stable-baselines3 model")
    return data


def _policy_class(data: dict) -> tuple[str, str]:
    """(module, class name) of the saved policy class, read from its pickle's opcodes without
    executing it; ("?", "?") when absent."""
    pc = data.get("policy_class")
    module = pc.get("__module__", "?") if isinstance(pc, dict) else "?"
    name, strings = "?", []
    try:
        for op, arg, _ in pickletools.genops(base64.b64decode(pc[":serialized:"])):
            if op.name == "GLOBAL":  # protocol <= 3: "module name"
                module, name = arg.split(" ", 1)
            elif isinstance(arg, str):
                strings.append(arg)
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                module, name = strings[-2], strings[-1]
    except Exception:  # a damaged or unexpected entry: the module key alone decides
        pass
    return module, name


def _policy_class_name(data: dict) -> str:
    module, name = _policy_class(data)
    return f"{module}.{name}"


def _infer_algo(data: dict) -> Optional[str]:
    """The algorithm whose policy class the zip records (None when it cannot be told): SAC and TD3
    have their own policy modules; PPO shares ActorCriticPolicy with A2C, so also needs the
    PPO-only ``clip_range`` and ``n_epochs`` hyperparameters."""
    module, _ = _policy_class(data)
    algo = _POLICY_MODULES.get(module)
    if algo == "ppo" and not ("clip_range" in data and "n_epochs" in data):
        return None
    return algo


def _why_not_inferred(data: dict) -> str:
    if _POLICY_MODULES.get(_policy_class(data)[0]) == "ppo":
        return "is shared by PPO and A2C, and the zip lacks PPO's clip_range and n_epochs"
    return "is none of PPO's, SAC's or TD3's"


def _read_meta(meta_path: Path) -> Optional[dict]:
    """The checked meta, or None when missing or not JSON (warned)."""
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        warnings.warn(f"{meta_path}: unreadable ({type(exc).__name__}: {exc}); ignored: the algorithm is "
                      "read from the model zip and the scenario is unknown", stacklevel=3)
        return None
    if not isinstance(meta, dict):
        warnings.warn(f"{meta_path}: not a JSON object; ignored: the algorithm is read from the model zip "
                      "and the scenario is unknown", stacklevel=3)
        return None
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing keys {missing}")
    if meta["format"] != FORMAT:
        raise ValueError(f"{meta_path}: format {meta['format']!r}, this version reads {FORMAT!r}")
    if meta["algo"] not in ALGOS:
        raise ValueError(f"{meta_path}: algo {meta['algo']!r}, expected one of {', '.join(ALGOS)}")
    if not isinstance(meta["env_kwargs"], dict):
        raise ValueError(f"{meta_path}: env_kwargs must be a JSON object, got {meta['env_kwargs']!r}")
    for key in ("observation_shape", "action_shape"):
        v = meta[key]
        if not (isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v)):
            raise ValueError(f"{meta_path}: {key} must be a list of non-negative ints, got {v!r}")
    vn = meta.get("vecnormalize")
    if vn is not None and (not isinstance(vn, str) or not vn or Path(vn).name != vn):
        raise ValueError(f"{meta_path}: vecnormalize must be a file name beside it or null, got {vn!r}")
    try:
        dma_gym.scenarios.get(meta["scenario"], **meta["env_kwargs"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{meta_path}: scenario {meta['scenario']!r} with env_kwargs {meta['env_kwargs']!r}: "
                         f"{exc}") from None
    return meta


def _read_vec_normalize(meta_path: Path, file_name: str, model: BaseAlgorithm) -> VecNormalize:
    vn_path = meta_path.with_name(file_name)
    if not vn_path.is_file():
        raise ValueError(f"{meta_path}: names vecnormalize file {file_name!r}, which does not exist ({vn_path})")
    try:
        with open(vn_path, "rb") as f:
            vn = pickle.load(f)  # exactly VecNormalize.load, which also needs a venv to wrap
    except Exception as exc:  # a damaged pickle raises almost anything
        raise ValueError(f"{vn_path}: cannot be unpickled ({type(exc).__name__}: {exc})") from None
    if not isinstance(vn, VecNormalize):
        raise ValueError(f"{vn_path}: holds a {type(vn).__name__}, not a stable_baselines3 VecNormalize")
    # read the unpickled wrapper's own attributes: it has no venv, and VecEnvWrapper.__getattr__
    # would recurse looking for a missing one (obs_rms exists only with norm_obs)
    state = vars(vn)
    norm_obs = bool(state.get("norm_obs", False))
    shape = np.shape(getattr(state.get("obs_rms"), "mean", None))
    if norm_obs and shape != model.observation_space.shape:
        raise ValueError(f"{vn_path}: observation statistics of shape {shape}, the model observes "
                         f"{model.observation_space.shape}")
    return vn


class TrainedPolicy:
    """A stable-baselines3 model behind the Policy protocol (``agents.base.Policy``), with the
    observation normalisation it was trained under.

    ``predict`` takes the env's raw observations, one (obs_dim,) or a batch (n, obs_dim), checks
    their shape, finiteness and bounds, normalises them as SB3's ``VecNormalize.normalize_obs``
    does (``clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)`` as float32, with the
    statistics copied when the policy is built) and returns ``model.predict(...)``: float32 actions
    (act_dim,) or (n, act_dim) and the model's recurrent state.

    Args:
        model: a stable-baselines3 model.
        algo: ``"ppo"``, ``"sac"`` or ``"td3"``.
        scenario: the training scenario, or None when unknown.
        env_kwargs: the training env's config overrides.
        vec_normalize: the training ``VecNormalize`` (its observation statistics are used when its
            ``norm_obs`` is true), or None.
        path: the file it was loaded from, if any.
        name: a label (default: ``algo``).
        meta: the saved ``.meta.json`` contents, if any.

    Attributes:
        name, algo, scenario, env_kwargs, path, meta, model, num_timesteps: as above.
        config: ``dma_gym.scenarios.get(scenario, **env_kwargs)``, or None when the scenario is unknown.
        observation_space, action_space: the model's (one env's) spaces.
        obs_mean, obs_var: (obs_dim,) float64 normalisation statistics, or None without normalisation.
        clip_obs, epsilon: the normalisation's clip and epsilon (None without normalisation).

    Raises:
        ValueError: an unknown algo, a non-Box or non-1-D space, an unknown scenario or invalid
            overrides, or statistics of another shape.
    """

    def __init__(self, model: BaseAlgorithm, *, algo: str, scenario: Optional[str] = None,
                 env_kwargs: Optional[dict] = None, vec_normalize: Optional[VecNormalize] = None,
                 path: Optional[str | os.PathLike] = None, name: Optional[str] = None, meta: Optional[dict] = None):
        if algo not in ALGOS:
            raise ValueError(f"algo={algo!r}: expected one of {', '.join(ALGOS)}")
        for what, sp in (("observation_space", model.observation_space), ("action_space", model.action_space)):
            if not isinstance(sp, spaces.Box) or len(sp.shape) != 1:
                raise ValueError(f"the model's {what} must be a 1-D gymnasium Box, got {sp!r}")
        self.algo = algo
        self.name = algo if name is None else str(name)
        self.scenario = scenario
        self.env_kwargs = dict(env_kwargs or {})
        self.config: MarketConfig | AlmgrenChrissConfig | None = (
            None if scenario is None else dma_gym.scenarios.get(scenario, **self.env_kwargs))
        self.path = None if path is None else Path(path)
        self.meta = meta
        self.model = model
        self.num_timesteps = int(model.num_timesteps)
        self.observation_space = model.observation_space
        self.action_space = model.action_space
        self.obs_dim = int(self.observation_space.shape[0])
        self.act_dim = int(self.action_space.shape[0])
        self._low = np.asarray(self.observation_space.low, np.float64)
        self._high = np.asarray(self.observation_space.high, np.float64)
        self.obs_mean = self.obs_var = self.clip_obs = self.epsilon = None
        if vec_normalize is not None and vec_normalize.norm_obs:
            mean = np.array(vec_normalize.obs_rms.mean, np.float64)
            var = np.array(vec_normalize.obs_rms.var, np.float64)
            if mean.shape != (self.obs_dim,) or var.shape != (self.obs_dim,):
                raise ValueError(f"observation statistics of shape {mean.shape}, the model observes ({self.obs_dim},)")
            self.obs_mean, self.obs_var = mean, var
            self.clip_obs, self.epsilon = float(vec_normalize.clip_obs), float(vec_normalize.epsilon)

    def __repr__(self) -> str:
        where = "" if self.path is None else f", path='{self.path}'"
        norm = "none" if self.obs_mean is None else f"VecNormalize(clip_obs={self.clip_obs:g})"
        return (f"TrainedPolicy(name={self.name!r}, algo={self.algo!r}, scenario={self.scenario!r}, "
                f"env_kwargs={self.env_kwargs!r}, num_timesteps={self.num_timesteps}, obs=({self.obs_dim},), "
                f"act=({self.act_dim},), normalisation={norm}{where})")

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` as the model saw it in training: SB3's ``VecNormalize.normalize_obs`` (float32),
        or ``obs`` unchanged without normalisation."""
        if self.obs_mean is None:
            return obs
        z = np.clip((obs - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon), -self.clip_obs, self.clip_obs)
        return z.astype(np.float32)

    def predict(
        self,
        observation: Any,
        state: Optional[tuple[np.ndarray, ...]] = None,
        episode_start: Optional[np.ndarray] = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Optional[tuple[np.ndarray, ...]]]:
        """Action(s) for raw ``observation`` (obs_dim,) or (n, obs_dim): float32 (act_dim,) or
        (n, act_dim), and the model's next ``state``.

        Raises:
            ValueError: non-numeric, wrongly shaped, NaN/inf or out-of-bounds observations.
        """
        obs = self._check(observation)
        single = obs.ndim == 1
        act, state = self.model.predict(self.normalize(obs[None] if single else obs), state=state,
                                        episode_start=episode_start, deterministic=deterministic)
        act = np.asarray(act, np.float32)
        return (act[0] if single else act), state

    def _check(self, observation: Any) -> np.ndarray:
        return check_observation(observation, self._low, self._high,
                                 "a TrainedPolicy normalises by itself: pass the env's raw observations")
