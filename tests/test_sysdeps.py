"""`make setup` / `make test` install the system packages they need, or stop at once with the command to run."""
import io
import os
import stat

import pytest

from helpers.offline import sysdeps


class Packages:
    """Requirements that a fake apt-get can fix: ``missing`` until ``install`` is called with them."""

    def __init__(self, *missing, install_rc=0, fixes=True):
        self.missing, self.install_rc, self.fixes, self.calls = set(missing), install_rc, fixes, []

    def requirements(self, *names):
        return tuple(sysdeps.Requirement(n, f"{n} is needed", lambda n=n: "gone" if n in self.missing else None)
                     for n in names)

    def install(self, packages):
        self.calls.append(packages)
        if self.install_rc == 0 and self.fixes:
            self.missing -= set(packages)
        return self.install_rc


def ensure(packages, *names, **kwargs):
    out = io.StringIO()
    kwargs = {"system": "Linux", "root": True, "have_apt": True, **kwargs}
    rc = sysdeps.ensure(install=packages.install, requirements=packages.requirements(*names), out=out, **kwargs)
    return rc, out.getvalue()


def test_nothing_missing_installs_nothing():
    packages = Packages()
    assert ensure(packages, "bubblewrap", "wordnet-base") == (0, "")
    assert packages.calls == []


def test_as_root_with_apt_the_missing_packages_are_installed_together():
    packages = Packages("wordnet-base", "bubblewrap")
    rc, out = ensure(packages, "bubblewrap", "wordnet-base", "other")
    assert rc == 0 and out == ""
    assert packages.calls == [["bubblewrap", "wordnet-base"]]


def test_without_root_it_stops_with_the_sudo_command_and_installs_nothing():
    packages = Packages("wordnet-base")
    rc, out = ensure(packages, "bubblewrap", "wordnet-base", root=False)
    assert rc == 1 and packages.calls == []
    assert "wordnet-base: gone (wordnet-base is needed)" in out
    assert "`sudo apt-get update && sudo apt-get install -y wordnet-base`" in out
    assert "bubblewrap" not in out


def test_a_failed_install_names_the_command_to_run_as_root():
    packages = Packages("bubblewrap", install_rc=100)
    rc, out = ensure(packages, "bubblewrap")
    assert rc == 1 and packages.calls == [["bubblewrap"]]
    assert "`apt-get update && apt-get install -y bubblewrap`" in out and "sudo" not in out


def test_an_install_that_does_not_fix_it_is_reported():
    packages = Packages("bubblewrap", fixes=False)
    rc, out = ensure(packages, "bubblewrap")
    assert rc == 1 and "bubblewrap: gone" in out


def test_without_apt_it_names_the_packages_and_the_wordnet_folder():
    packages = Packages("bubblewrap", "wordnet-base")
    rc, out = ensure(packages, "bubblewrap", "wordnet-base", have_apt=False)
    assert rc == 1 and packages.calls == []
    assert "install bubblewrap, wordnet-base with your system's package manager" in out
    assert str(sysdeps.WORDNET_DIR) in out


@pytest.mark.parametrize("setup_only, rc", [(True, 0), (False, 1)])
def test_outside_linux_setup_goes_on_and_test_stops(setup_only, rc):
    packages = Packages("bubblewrap")
    got, out = ensure(packages, "bubblewrap", system="Darwin", setup_only=setup_only)
    assert got == rc and packages.calls == []
    assert "need Linux" in out and "Darwin" in out and "`make lab` and `make run` work here" in out


def fake_bwrap(folder, script):
    path = folder / "bwrap"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_bwrap_missing_from_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sysdeps.bwrap_problem() == "bwrap is not installed"


def test_a_bwrap_that_cannot_make_namespaces_says_so_with_its_message(tmp_path, monkeypatch):
    fake_bwrap(tmp_path, 'echo "bwrap: setting up uid map: Permission denied" >&2\necho second >&2\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sysdeps.bwrap_problem() == ("bwrap is installed but cannot create namespaces here: "
                                       "bwrap: setting up uid map: Permission denied")


def test_a_working_bwrap_is_asked_for_the_graders_namespaces(tmp_path, monkeypatch):
    log = tmp_path / "args"
    fake_bwrap(tmp_path, f'echo "$@" > {log}\nexit 0\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sysdeps.bwrap_problem() is None
    args = log.read_text().split()
    assert {"--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent"} <= set(args)
    assert ("--unshare-user" in args) == (os.geteuid() != 0)
    assert args[-1] == "true"


def test_wordnet_is_found_by_its_noun_database(tmp_path, monkeypatch):
    monkeypatch.setattr(sysdeps, "WORDNET_DIR", tmp_path)
    assert sysdeps.wordnet_problem() == f"{tmp_path}/data.noun is missing"
    (tmp_path / "data.noun").write_text("")
    assert sysdeps.wordnet_problem() is None


def test_this_machine_has_what_the_tests_need():
    """The check agrees with the suite: where `make test` runs, nothing is missing (else the sandbox tests fail)."""
    assert sysdeps.problems() == {}


def test_command_line_help_names_the_setup_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        sysdeps.main(["--help"])
    assert exit_.value.code == 0 and "--setup" in capsys.readouterr().out
