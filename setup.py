"""What pyproject.toml cannot say: the packages are found (a new subpackage of `daemon` needs no
listing), and the top-level templates/, config/ and systemd/ folders join them as the package's
data, daemon.share.templates, daemon.share.config and daemon.share.systemd."""

from setuptools import find_packages, setup

SHARE = {"daemon.share.templates": "templates", "daemon.share.config": "config", "daemon.share.systemd": "systemd"}

setup(packages=find_packages(include=["daemon", "daemon.*"]) + list(SHARE), package_dir=SHARE)
