"""Packaging tests (docs/packaging.md): run by `make test-deb`, not by
`make test` (building the .deb alone takes minutes on a loaded machine).
They change this machine (dpkg -i, a system user) and undo it: root only."""

import glob
import os
import subprocess

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEB_DIR = os.path.join(TOP, "build", "deb")


def run(*argv, check=True, **kw):
    """Run argv; return CompletedProcess (text). Fails the test on error
    when check, with both output streams in the message."""
    p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=kw.pop("timeout", 600), check=False, **kw)
    if check and p.returncode != 0:
        pytest.fail("%s: exit %d\nstdout:\n%s\nstderr:\n%s" %
                    (" ".join(argv), p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    return p


@pytest.fixture(scope="session")
def root_only():
    if os.geteuid() != 0:
        pytest.skip("packaging tests install a package: root only")


@pytest.fixture(scope="session")
def deb(root_only):
    """The .deb `make deb` built (built here when missing)."""
    debs = glob.glob(os.path.join(DEB_DIR, "cairn_*.deb"))
    if not debs:
        run(os.path.join(TOP, "scripts", "build-deb.sh"), DEB_DIR, cwd=TOP, timeout=1800)
        debs = glob.glob(os.path.join(DEB_DIR, "cairn_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]
