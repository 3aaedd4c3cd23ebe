"""`make install` / `make uninstall` with PREFIX and DESTDIR (docs/packaging.md):
what lands where, the unit pointing at the prefix, a changed cairn.hcl kept
by a second install and by uninstall, and nothing else left behind. Uses
build/release (the tree's release build) and a scratch DESTDIR; needs no root."""

import os
import subprocess

from conftest import TOP, run


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def dirs_under(root):
    return sorted(os.path.relpath(d, root) for d, _, _ in os.walk(root))


def make(*args):
    return run("make", "--no-print-directory", "-C", TOP, *args, timeout=1800)


def test_install_uninstall_destdir(tmp_path):
    dest = str(tmp_path / "root")
    make("install", "PREFIX=/usr", "DESTDIR=" + dest)
    got = files_under(dest)
    for f in ("usr/bin/cairn", "usr/lib/systemd/system/cairn.service",
              "usr/share/man/man1/cairn.1", "usr/share/man/man1/cairn-agent.1",
              "usr/share/bash-completion/completions/cairn", "usr/share/doc/cairn/packaging.md",
              "etc/cairn.d/cairn.hcl"):
        assert f in got, (f, got)
    unit = open(os.path.join(dest, "usr/lib/systemd/system/cairn.service")).read()
    assert "ExecStart=/usr/bin/cairn agent -config-dir=/etc/cairn.d\n" in unit
    out = subprocess.run([os.path.join(dest, "usr/bin/cairn"), "version"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    assert out.startswith("Cairn v")

    # A second install keeps a changed configuration.
    hcl = os.path.join(dest, "etc/cairn.d/cairn.hcl")
    with open(hcl, "a") as f:
        f.write('log_level = "debug"\n')
    p = make("install", "PREFIX=/usr", "DESTDIR=" + dest)
    assert "Keeping existing" in p.stdout
    assert 'log_level = "debug"' in open(hcl).read()

    # uninstall: everything installed goes; the changed config stays (its
    # second install did not record it); no cairn directory is left empty.
    make("uninstall", "DESTDIR=" + dest)
    assert files_under(dest) == ["etc/cairn.d/cairn.hcl"]
    assert not [d for d in dirs_under(dest) if "cairn" in d and d != "etc/cairn.d"]


def test_install_prefix_opt(tmp_path):
    """Another prefix: paths follow it (FHS: /opt/cairn, /etc/opt/cairn)."""
    dest = str(tmp_path / "root")
    make("install", "PREFIX=/opt/cairn", "DESTDIR=" + dest)
    unit = open(os.path.join(dest, "opt/cairn/lib/systemd/system/cairn.service")).read()
    assert "ExecStart=/opt/cairn/bin/cairn agent -config-dir=/etc/opt/cairn/cairn.d\n" in unit
    assert os.path.exists(os.path.join(dest, "etc/opt/cairn/cairn.d/cairn.hcl"))
    make("uninstall", "DESTDIR=" + dest)
    assert files_under(dest) == []
