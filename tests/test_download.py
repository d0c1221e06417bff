"""Downloading MovieLens over file:// and a local HTTP server, with verification."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ML_SMALL_ZIP, requires_movielens
from movierec.cli import main
from movierec.data import DataError
from movierec.data.download import download, resolve_source


@pytest.fixture
def zip_file(tmp_path: Path, small_movielens: Path) -> Path:
    """A zip laid out as GroupLens ships it: one top-level folder."""
    archive = tmp_path / "ml-synthetic.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for file in small_movielens.iterdir():
            out.write(file, f"ml-synthetic/{file.name}")
    return archive


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_file_url_is_fetched_verified_and_unpacked(tmp_path: Path, zip_file: Path) -> None:
    folder = download(zip_file.as_uri(), tmp_path / "dest")
    assert folder == tmp_path / "dest" / "ml-synthetic"
    assert (folder / "ratings.csv").read_bytes() == zipfile.ZipFile(zip_file).read(
        "ml-synthetic/ratings.csv"
    )


def test_http_download_with_matching_sha256(
    tmp_path: Path, zip_file: Path, http_root: tuple[str, Path]
) -> None:
    base, root = http_root
    shutil.copy(zip_file, root / "ml.zip")
    digest = hashlib.sha256(zip_file.read_bytes()).hexdigest()
    folder = download(f"{base}/ml.zip", tmp_path / "dest", sha256=digest.upper())
    assert (folder / "movies.csv").is_file()


def test_sha256_mismatch_is_refused(tmp_path: Path, zip_file: Path) -> None:
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        download(zip_file.as_uri(), tmp_path / "dest", sha256="0" * 64)
    assert not (tmp_path / "dest" / "ml-synthetic").exists()


def test_corrupt_and_missing_downloads_are_clear_errors(
    tmp_path: Path, zip_file: Path, http_root: tuple[str, Path]
) -> None:
    base, root = http_root
    (root / "cut.zip").write_bytes(zip_file.read_bytes()[:-200])
    with pytest.raises(DataError, match="cut.zip: not a valid zip file"):
        download(f"{base}/cut.zip", tmp_path / "a")
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{base}/absent.zip", tmp_path / "b")
    with pytest.raises(DataError, match="download failed"):
        download("http://127.0.0.1:9/ml.zip", tmp_path / "c")
    with pytest.raises(DataError, match="unsupported URL scheme 'ftp'"):
        download("ftp://127.0.0.1/ml.zip", tmp_path / "d")


def test_zip_members_outside_the_destination_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("../escaped.csv", "x")
    with pytest.raises(DataError, match="unsafe member path"):
        resolve_source(str(archive), tmp_path / "dest")
    assert not (tmp_path / "escaped.csv").exists()


@requires_movielens()
def test_cli_downloads_the_real_zip_from_a_local_server(
    tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, root = http_root
    shutil.copy(ML_SMALL_ZIP, root / "ml-latest-small.zip")
    dest = tmp_path / "data"
    result = CliRunner().invoke(
        main, ["data", "download", "--url", f"{base}/ml-latest-small.zip", "--dest", str(dest)]
    )
    assert result.exit_code == 0, result.output
    assert (dest / "ml-latest-small" / "ratings.csv").stat().st_size > 2_000_000


def test_cli_download_error_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["data", "download", "--url", (tmp_path / "nope.zip").as_uri()]
    )
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "nope.zip: no such file" in result.output


def test_cli_download_defaults_to_the_data_dir_setting(tmp_path: Path, zip_file: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["data", "download", "--url", zip_file.as_uri()],
        env={"DATA_DIR": str(tmp_path / "configured")},
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "configured" / "ml-synthetic" / "ratings.csv").is_file()


def test_offline_download_failure_is_short(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        download("http://127.0.0.1:9/ml.zip", tmp_path / "c")
    # Not requests' 330 characters of connection-pool internals.
    assert (
        str(error.value)
        == "http://127.0.0.1:9/ml.zip: download failed (cannot connect to 127.0.0.1)"
    )
