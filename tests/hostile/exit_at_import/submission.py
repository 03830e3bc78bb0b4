"""Hostile: ends the process that imports it, with status 0 and no output."""

import os

os._exit(0)
