"""Packaging: every submission folder is declared, and `make test` keeps pytest's summary line."""

import configparser
import re
from pathlib import Path

from setuptools.config.setupcfg import read_configuration

ROOT = Path(__file__).resolve().parent.parent


def test_every_submission_folder_is_a_declared_package():
    """A folder setuptools ships files from but does not list as a package makes it warn
    ("Package 'submissions.X' is absent from the packages configuration") once per folder."""
    options = read_configuration(ROOT / "setup.cfg", ignore_option_errors=False)["options"]
    packages = set(options["packages"])
    folders = {f"submissions.{path.parent.name}" for path in (ROOT / "submissions").glob("*/submission.py")}
    assert folders, "no submission folders found"
    assert folders <= packages, sorted(folders - packages)
    assert not any("__pycache__" in name for name in packages)
    patterns = options["package_data"][""]  # setup.cfg's "*": every package
    assert {"*.json", "*.md"} <= set(patterns)  # search spaces, calibrated points, READMEs


def test_make_test_does_not_double_the_quiet_flag():
    """pytest -q on top of addopts = -q is -qq, which drops the "N passed" summary line."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    addopts = config["tool:pytest"]["addopts"].split()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    flags = addopts + recipe.split()
    assert flags.count("-q") + 2 * flags.count("-qq") <= 1, recipe
