"""Fetch and unpack a MovieLens zip: https, http (e.g. a local mirror) or file URLs."""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests
from tqdm import tqdm

from movierec.data import DataError

CHUNK_BYTES = 1 << 16


class DownloadError(DataError):
    """A download did not complete: no network, an HTTP error, a truncated transfer."""


def _reason(error: requests.RequestException, host: str | None, timeout: float) -> str:
    """A few words for what went wrong; requests' own text runs to hundreds of characters of
    connection-pool internals."""
    if isinstance(error, requests.Timeout):
        return f"no answer from {host} within {timeout:g}s"
    if isinstance(error, requests.ConnectionError):
        return f"cannot connect to {host}"
    return type(error).__name__


def is_url(source: str) -> bool:
    return urlparse(source).scheme in {"http", "https", "file"}


def _copy_with_progress(reader, total: int | None, target: Path, label: str) -> int:  # type: ignore[no-untyped-def]
    written = 0
    with (
        target.open("wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False) as bar,
    ):
        for chunk in reader:
            out.write(chunk)
            written += len(chunk)
            bar.update(len(chunk))
    return written


def fetch(url: str, target: Path, *, timeout: float = 60) -> Path:
    """Download ``url`` to the file ``target`` with a progress bar; check the size announced."""
    parsed = urlparse(url)
    label = Path(unquote(parsed.path)).name or "download"
    if parsed.scheme == "file":
        source = Path(unquote(parsed.path))
        if not source.is_file():
            raise DataError(f"{url}: no such file")
        with source.open("rb") as handle:
            _copy_with_progress(
                iter(lambda: handle.read(CHUNK_BYTES), b""), source.stat().st_size, target, label
            )
        return target
    if parsed.scheme not in {"http", "https"}:
        raise DataError(
            f"{url}: unsupported URL scheme {parsed.scheme!r} (use http, https or file)"
        )
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise DownloadError(f"{url}: download failed (HTTP {response.status_code})")
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            written = _copy_with_progress(
                response.iter_content(CHUNK_BYTES), expected, target, label
            )
    except requests.RequestException as error:
        reason = _reason(error, parsed.hostname, timeout)
        raise DownloadError(f"{url}: download failed ({reason})") from None
    if expected is not None and written != expected:
        raise DownloadError(f"{url}: truncated download ({written} of {expected} bytes)")
    return target


def verify_zip(path: Path, sha256: str | None = None) -> None:
    """A complete, uncorrupted zip (and the expected digest when one is configured)."""
    if sha256:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(chunk)
        if digest.hexdigest().lower() != sha256.strip().lower():
            raise DataError(f"{path.name}: SHA-256 mismatch (got {digest.hexdigest()})")
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except zipfile.BadZipFile as error:
        raise DataError(f"{path.name}: not a valid zip file ({error})") from None
    if broken is not None:
        raise DataError(f"{path.name}: corrupt member {broken}")


def unpack(zip_path: Path, dest: Path) -> Path:
    """Extract the zip into ``dest``; return the folder that holds ratings.csv."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.namelist():
            # Refuse members that would land outside dest ("zip slip").
            if not (dest / member).resolve().is_relative_to(dest.resolve()):
                raise DataError(f"{zip_path.name}: unsafe member path {member!r}")
        archive.extractall(dest)
    return find_dataset_dir(dest, zip_path.name)


def find_dataset_dir(root: Path, label: str | None = None) -> Path:
    if (root / "ratings.csv").is_file():
        return root
    candidates = sorted(p.parent for p in root.glob("*/ratings.csv"))
    if not candidates:
        raise DataError(f"{label or root}: no ratings.csv found")
    return candidates[0]


def download(url: str, dest: Path, *, sha256: str | None = None) -> Path:
    """Fetch, verify and unpack a MovieLens zip into ``dest``; return the data set folder."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        name = Path(unquote(urlparse(url).path)).name or "movielens.zip"
        zip_path = fetch(url, Path(tmp) / name)
        verify_zip(zip_path, sha256)
        return unpack(zip_path, dest)


def resolve_source(source: str, workdir: Path, *, sha256: str | None = None) -> Path:
    """A MovieLens folder for ``source``: a folder, a zip file, or a URL of a zip."""
    if is_url(source):
        return download(source, workdir, sha256=sha256)
    path = Path(source)
    if path.is_dir():
        return find_dataset_dir(path)
    if path.is_file():
        verify_zip(path, sha256)
        return unpack(path, workdir)
    raise DataError(f"{source}: no such file or directory")
