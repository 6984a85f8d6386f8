"""helpers.assets on a small asset folder made here: manifest forms, every kind of damage, the command line.

The expected digests are published test vectors (FIPS 180-2) or the system's ``sha256sum``, not
helpers.assets itself."""
import hashlib
import json
import shutil
import subprocess

import pytest

from helpers import assets

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2, "abc"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def make_assets(root, files: dict[str, bytes], form="dict", size_key="size"):
    """An asset folder with ``files`` and a manifest listing them (sha256 from hashlib, in one piece)."""
    entries = {}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        entries[rel] = {size_key: len(data), "sha256": hashlib.sha256(data).hexdigest()}
    listed = entries if form == "dict" else [{"path": rel, **entry} for rel, entry in entries.items()]
    (root / "manifest.json").write_text(json.dumps({"files": listed}))
    return root


@pytest.fixture
def tree(tmp_path):
    return make_assets(tmp_path / "a", {"lm/config.json": b"abc", "lm/weights.bin": bytes(range(256)) * 9,
                                        "sae/params.npz": b"", "top.txt": b"top"})


def test_sha256_file_matches_the_published_vectors_and_sha256sum(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    (tmp_path / "empty").write_bytes(b"")
    assert assets.sha256_file(tmp_path / "abc") == ABC_SHA256
    assert assets.sha256_file(tmp_path / "empty") == EMPTY_SHA256
    big = tmp_path / "big"  # over two 1 MiB blocks, not a multiple of the block size
    big.write_bytes(bytes(range(251)) * 9000)
    if shutil.which("sha256sum"):
        expected = subprocess.run(["sha256sum", str(big)], capture_output=True, text=True, check=True).stdout.split()[0]
    else:  # pragma: no cover - every Linux CI has coreutils
        expected = hashlib.sha256(big.read_bytes()).hexdigest()
    assert assets.sha256_file(big) == expected


def test_offline_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB_OFFLINE_DIR", raising=False)
    assert assets.offline_dir() == assets.REPO_ROOT / "data" / "offline"
    monkeypatch.setenv("LAB_OFFLINE_DIR", "")
    assert assets.offline_dir() == assets.REPO_ROOT / "data" / "offline"
    monkeypatch.setenv("LAB_OFFLINE_DIR", str(tmp_path))
    assert assets.offline_dir() == tmp_path


@pytest.mark.parametrize("form, size_key", [("dict", "size"), ("list", "size"), ("dict", "bytes"), ("list", "bytes")])
def test_verify_accepts_both_manifest_forms(tmp_path, form, size_key):
    root = make_assets(tmp_path, {"x/a.bin": b"abc", "b.txt": b"hello"}, form=form, size_key=size_key)
    assert assets.verify(root) is None
    files = assets.manifest_files(assets.load_manifest(root))
    assert sorted(files) == ["b.txt", "x/a.bin"] and files["x/a.bin"]["sha256"] == ABC_SHA256


def test_verify_uses_lab_offline_dir_when_no_root_is_given(tree, monkeypatch):
    monkeypatch.setenv("LAB_OFFLINE_DIR", str(tree))
    assets.verify()
    (tree / "top.txt").write_bytes(b"TOP")
    with pytest.raises(assets.AssetError, match="top.txt is corrupt"):
        assets.verify()


def test_missing_file_is_named_with_the_fix(tree):
    (tree / "lm" / "config.json").unlink()
    with pytest.raises(assets.AssetError) as info:
        assets.verify(tree)
    assert str(info.value) == (f"offline asset {tree / 'lm' / 'config.json'} is missing: run `make offline-assets` "
                               "(or `git checkout -- data/offline`) to restore it.")


@pytest.mark.parametrize("damage", ["same size, other bytes", "one byte more", "one byte less"])
def test_corrupt_file_is_found_by_size_or_by_hash(tree, damage):
    path = tree / "lm" / "weights.bin"
    data = path.read_bytes()
    path.write_bytes({"same size, other bytes": data[:-1] + b"\x00" if data[-1] else data[:-1] + b"\x01",
                      "one byte more": data + b"\x00", "one byte less": data[:-1]}[damage])
    with pytest.raises(assets.AssetError) as info:
        assets.verify(tree)
    assert str(info.value).startswith(f"offline asset {path} is corrupt (size or sha256 differs from manifest.json): run")


def test_subdir_checks_only_that_folder(tree):
    (tree / "sae" / "params.npz").write_bytes(b"broken")
    (tree / "top.txt").unlink()
    assets.verify(tree, subdir="lm")
    assets.verify(tree, subdir="lm/")
    with pytest.raises(assets.AssetError, match=r"sae/params\.npz is corrupt"):
        assets.verify(tree, subdir="sae")
    with pytest.raises(assets.AssetError, match=r"sae/params\.npz is corrupt"):
        assets.verify(tree)  # everything, in sorted order: lm/, then sae/ fails before top.txt


def test_subdir_is_a_folder_prefix_not_a_string_prefix(tmp_path):
    root = make_assets(tmp_path, {"lm/a": b"1", "lm2/b": b"2"})
    (root / "lm2" / "b").write_bytes(b"3")
    assets.verify(root, subdir="lm")
    with pytest.raises(assets.AssetError, match="lm2"):
        assets.verify(root, subdir="lm2")


def test_files_are_checked_in_sorted_order(tmp_path):
    root = make_assets(tmp_path, {"b": b"1", "a": b"2", "c": b"3"})
    for name in ("a", "b", "c"):
        (root / name).unlink()
    with pytest.raises(assets.AssetError, match=r"/a is missing"):
        assets.verify(root)


@pytest.mark.parametrize("content, words", [
    (None, "manifest.json is missing"),
    ("{not json", "is not valid JSON"),
    (b"\xff\xfe{}", "is not valid JSON"),
])
def test_broken_manifest_is_named_with_the_fix(tmp_path, content, words):
    if content is not None:
        (tmp_path / "manifest.json").write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(assets.AssetError) as info:
        assets.load_manifest(tmp_path)
    message = str(info.value)
    assert message.startswith(f"offline asset manifest {tmp_path / 'manifest.json'} ")
    assert words in message and message.endswith("run `make offline-assets` (or `git checkout -- data/offline`) to restore it.")


@pytest.mark.parametrize("manifest", [{}, {"files": "lm/a"}, {"files": None}])
def test_manifest_without_a_file_list_is_an_asset_error(manifest):
    with pytest.raises(assets.AssetError) as info:
        assets.manifest_files(manifest)
    assert str(info.value) == ("manifest.json has no 'files' entry: run `make offline-assets` "
                               "(or `git checkout -- data/offline`) to restore it.")


def test_compare_lists_every_difference_in_order(tmp_path):
    a = make_assets(tmp_path / "a", {"same": b"1", "changed": b"2", "only_a": b"3"})
    b = make_assets(tmp_path / "b", {"same": b"1", "changed": b"2!", "only_b": b"4"})
    assert assets.compare(a, a) == []
    assert assets.compare(a, b) == ["changed: sha256 differs", f"only_a: only in {a}", f"only_b: only in {b}"]
    assert assets.compare(b, a) == ["changed: sha256 differs", f"only_a: only in {a}", f"only_b: only in {b}"]


def test_compare_ignores_sizes_and_other_fields(tmp_path):
    a = make_assets(tmp_path / "a", {"x": b"1"})
    manifest = json.loads((a / "manifest.json").read_text())
    manifest["files"]["x"]["size"] = 99
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    assert assets.compare(a, tmp_path / "b") == []


def test_command_line_verify_checks_the_folder_it_is_given(tree, capsys, monkeypatch):
    monkeypatch.delenv("LAB_OFFLINE_DIR", raising=False)  # the default folder (the repository's assets) is intact
    (tree / "top.txt").unlink()
    assert assets.main(["verify", str(tree)]) == 1
    assert "top.txt is missing" in capsys.readouterr().err


def test_subdir_with_a_trailing_slash_still_checks_that_folder(tree):
    (tree / "lm" / "config.json").write_bytes(b"ABC")
    with pytest.raises(assets.AssetError, match=r"lm/config\.json is corrupt"):
        assets.verify(tree, subdir="lm/")
    with pytest.raises(assets.AssetError, match=r"lm/config\.json is corrupt"):
        assets.verify(tree, subdir="lm")


def test_command_line_verify(tree, capsys, monkeypatch):
    assert assets.main(["verify", str(tree)]) == 0
    assert capsys.readouterr().out == "offline assets match manifest.json\n"
    monkeypatch.setenv("LAB_OFFLINE_DIR", str(tree))
    assert assets.main(["verify"]) == 0
    assert capsys.readouterr().out == "offline assets match manifest.json\n"
    (tree / "top.txt").unlink()
    assert assets.main(["verify", str(tree)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: offline asset ") and "top.txt is missing" in captured.err
    assert "offline assets match" not in captured.out


def test_command_line_compare(tmp_path, capsys):
    a = make_assets(tmp_path / "a", {"x": b"1", "y": b"2"})
    b = make_assets(tmp_path / "b", {"x": b"1", "y": b"3"})
    assert assets.main(["compare", str(a), str(a)]) == 0
    assert capsys.readouterr().out == "identical\n"
    assert assets.main(["compare", str(a), str(b)]) == 1
    assert capsys.readouterr().out == "y: sha256 differs\n1 file(s) differ\n"
    assert assets.main(["compare", str(a), str(tmp_path / "none")]) == 1
    assert "manifest.json is missing" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["verify", "a", "b"], ["compare", "a"], ["compare", "a", "b", "c"], ["check"]])
def test_command_line_usage(argv, capsys):
    assert assets.main(argv) == 2
    assert capsys.readouterr().err == "usage: python -m helpers.assets verify [DIR] | compare DIR_A DIR_B\n"


def test_command_line_reads_sys_argv(tree, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["helpers.assets", "verify", str(tree)])
    assert assets.main() == 0
    monkeypatch.setattr("sys.argv", ["helpers.assets"])
    assert assets.main() == 2
