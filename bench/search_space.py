"""External-tuning search spaces and their quasi-random sampling.

A submission's `search_space.json` uses AlgoPerf's format, one entry per hyperparameter:

    {"learning_rate": {"min": 1e-4, "max": 1e-2, "scaling": "log"},
     "weight_decay":  {"min": 0.0, "max": 0.5, "scaling": "linear"},
     "warmup_steps":  {"min": 10, "max": 500, "scaling": "log", "type": "int"},
     "beta2":         {"feasible_points": [0.99, 0.999]}}

`min`/`max` entries are continuous (uniform or log-uniform; `"type": "int"` rounds), a
`feasible_points` list is a discrete choice and a single feasible point is a fixed value. Every
name must be a hyperparameter of the submission; names not in the space keep their default.

Points are drawn by a scrambled Halton sequence (Bergstra & Bengio 2012 and AlgoPerf use
quasi-random search: the draws cover the space more evenly than independent uniform ones), one
dimension per hyperparameter in the file's order, reproducible from the seed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCALINGS = ("linear", "log")


class SearchSpaceError(ValueError):
    """A search space that cannot be used; the message says which entry and why."""


@dataclasses.dataclass(frozen=True)
class Range:
    """A continuous hyperparameter between `low` and `high`, uniform or log-uniform."""

    name: str
    low: float
    high: float
    scaling: str = "linear"
    integer: bool = False

    def value(self, u: float) -> float | int:
        """The value at quantile `u` in [0, 1)."""
        if self.scaling == "log":
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        value = min(max(value, self.low), self.high)
        return int(round(value)) if self.integer else float(value)


@dataclasses.dataclass(frozen=True)
class Choice:
    """A discrete hyperparameter: one of `points` (a fixed value when there is one point)."""

    name: str
    points: tuple[Any, ...]

    def value(self, u: float) -> Any:
        return self.points[min(int(u * len(self.points)), len(self.points) - 1)]


Dimension = Range | Choice


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_entry(name: str, entry: Any) -> Dimension:
    where = f"search space entry {name!r}"
    if not isinstance(entry, Mapping):
        raise SearchSpaceError(f"{where} must be an object with min/max/scaling or feasible_points")
    if "feasible_points" in entry:
        extra = set(entry) - {"feasible_points"}
        if extra:
            raise SearchSpaceError(f"{where}: feasible_points cannot be combined with {sorted(extra)}")
        points = entry["feasible_points"]
        if not isinstance(points, list) or not points:
            raise SearchSpaceError(f"{where}: feasible_points must be a non-empty list")
        for point in points:
            if not (point is None or isinstance(point, (str, bool)) or _is_number(point)):
                raise SearchSpaceError(f"{where}: feasible point {point!r} is not a JSON scalar")
        return Choice(name, tuple(points))

    unknown = set(entry) - {"min", "max", "scaling", "type"}
    if unknown:
        raise SearchSpaceError(f"{where}: unknown keys {sorted(unknown)}")
    if "min" not in entry or "max" not in entry:
        raise SearchSpaceError(f"{where} needs both min and max (or feasible_points)")
    low, high = entry["min"], entry["max"]
    if not (_is_number(low) and _is_number(high)):
        raise SearchSpaceError(f"{where}: min and max must be finite numbers")
    if low > high:
        raise SearchSpaceError(f"{where}: min {low} is greater than max {high}")
    scaling = entry.get("scaling", "linear")
    if scaling not in SCALINGS:
        raise SearchSpaceError(f"{where}: scaling must be one of {SCALINGS}, not {scaling!r}")
    if scaling == "log" and low <= 0:
        raise SearchSpaceError(f"{where}: log scaling needs min > 0, got {low}")
    kind = entry.get("type", "float")
    if kind not in ("float", "int"):
        raise SearchSpaceError(f"{where}: type must be 'float' or 'int', not {kind!r}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise SearchSpaceError(f"{where}: an int range needs whole-number min and max")
    return Range(name, float(low), float(high), scaling, integer=kind == "int")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    @property
    def names(self) -> list[str]:
        return [dimension.name for dimension in self.dimensions]

    @classmethod
    def from_dict(cls, data: Any) -> "SearchSpace":
        if not isinstance(data, Mapping) or not data:
            raise SearchSpaceError("a search space must be a non-empty JSON object of name: entry")
        dimensions = []
        for name, entry in data.items():
            if not isinstance(name, str) or not name:
                raise SearchSpaceError(f"search space names must be non-empty strings, got {name!r}")
            dimensions.append(_parse_entry(name, entry))
        return cls(tuple(dimensions))

    def check_names(self, accepted: Mapping[str, Any] | list[str], owner: str = "the submission"):
        """Every dimension must be a hyperparameter that `owner` accepts."""
        unknown = [name for name in self.names if name not in accepted]
        if unknown:
            raise SearchSpaceError(
                f"search space names {', '.join(unknown)} are not hyperparameters of {owner} "
                f"(it accepts: {', '.join(sorted(accepted))})"
            )

    def sample(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """`count` points of a scrambled Halton sequence, reproducible from `seed`."""
        if count < 1:
            raise ValueError("count must be at least 1")
        from scipy.stats import qmc  # imported on use: scipy.stats takes 1-2 s to import

        sampler = qmc.Halton(d=len(self.dimensions), scramble=True, seed=np.random.default_rng(seed))
        quantiles = sampler.random(count)
        return [
            {dim.name: dim.value(float(u)) for dim, u in zip(self.dimensions, row)}
            for row in quantiles
        ]


@dataclasses.dataclass(frozen=True)
class PointList:
    """AlgoPerf's other search-space form: a JSON list of points, tried in order.

    As AlgoPerf's `halton.generate_search` does for a list, a study of n trials runs the first
    min(n, len) points (the same ones in every study); the names are those of the first point,
    and every point must have the same names.
    """

    points: tuple[dict[str, Any], ...]

    @property
    def names(self) -> list[str]:
        return list(self.points[0])

    @classmethod
    def from_list(cls, data: list) -> "PointList":
        if not data:
            raise SearchSpaceError("a search space must be a non-empty JSON object of name: "
                                   "entry, or AlgoPerf's non-empty list of points")
        if not all(isinstance(point, Mapping) and point for point in data):
            raise SearchSpaceError("every point of a list search space must be a JSON object")
        names = set(data[0])
        for index, point in enumerate(data):
            if set(point) != names:
                raise SearchSpaceError(f"point {index} has other names than point 0")
            for name, value in point.items():
                if not (value is None or isinstance(value, (str, bool)) or _is_number(value)):
                    raise SearchSpaceError(f"point {index}: {name}={value!r} is not a JSON scalar")
        return cls(tuple(dict(point) for point in data))

    check_names = SearchSpace.check_names

    def sample(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        del seed  # the list is the search: the same points in every study
        if count < 1:
            raise ValueError("count must be at least 1")
        return [dict(point) for point in self.points[:count]]


def load_search_space(path: str | Path) -> SearchSpace | PointList:
    """Read and validate a search space file (an object of entries, or AlgoPerf's list of
    points); errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SearchSpaceError(f"search space file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SearchSpaceError(f"search space file {path} is not valid JSON: {error}") from None
    try:
        return PointList.from_list(data) if isinstance(data, list) else SearchSpace.from_dict(data)
    except SearchSpaceError as error:
        raise SearchSpaceError(f"{path}: {error}") from None
