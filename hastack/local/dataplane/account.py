"""Who runs PostgreSQL, and where its files may live.

PostgreSQL refuses to run as root, and CI runs as root. So when this process is root the servers
run as a dedicated unprivileged system account, created once (`useradd --system hastack-pg`, no
home, no login shell); otherwise they run as the invoking user. Nothing here ever changes the
permissions of a directory it did not create: a data directory lives under the repository's
`build/` only when the account can already traverse every parent of it, else in a private
temporary directory (`mkdtemp`, owned by the account). The PostgreSQL binaries are used where pip
put them when the account can reach them, else copied into that private directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hastack.local.dataplane.errors import DataPlaneError

#: The system account the database servers run as when this process is root.
SERVER_ACCOUNT = "hastack-pg"
_EXECUTE = 1


@dataclass(frozen=True)
class ServerAccount:
    """The user the database servers run as (the invoking user unless that is root)."""

    name: str
    uid: int
    gid: int

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def popen_kwargs(self) -> dict[str, Any]:
        """`subprocess.Popen` arguments that run a program as this account (nothing when it is us)."""
        if self.is_self:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def env(self, home: Path) -> dict[str, str]:
        """A minimal environment for the account's programs (nothing of the caller's leaks in)."""
        return {"PATH": "/usr/bin:/bin", "HOME": str(home), "USER": self.name, "LC_ALL": "C", "TZ": "UTC"}

    def may(self, path: Path, access: int) -> bool:
        """Whether the account has `access` (a mix of 4 read, 2 write, 1 execute) on `path` by its mode bits."""
        if self.uid == 0:
            return True
        st = path.stat()
        if st.st_uid == self.uid:
            bits = (st.st_mode >> 6) & 7
        elif st.st_gid == self.gid:
            bits = (st.st_mode >> 3) & 7
        else:
            bits = st.st_mode & 7
        return bits & access == access

    def can_reach(self, path: Path) -> bool:
        """Whether the account can traverse every directory from `/` down to `path` (included)."""
        path = path.resolve()
        for directory in [*reversed(path.parents), path]:
            if directory.is_dir() and not self.may(directory, _EXECUTE):
                return False
        return True


def server_account() -> ServerAccount:
    """The account the servers run as: the invoking user, or `hastack-pg` (created once) when that is root."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServerAccount(entry.pw_name, entry.pw_uid, entry.pw_gid)
    return ensure_system_account(SERVER_ACCOUNT)


def ensure_system_account(name: str, attempts: int = 5) -> ServerAccount:
    """Look the account up, creating it with `useradd --system` when absent (safe when two workers race)."""
    for attempt in range(attempts):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            pass
        else:
            return ServerAccount(entry.pw_name, entry.pw_uid, entry.pw_gid)
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                                 "--shell", "/usr/sbin/nologin", "--comment", "hastack local database servers", name],
                                capture_output=True, text=True, check=False)
        # 9: the name exists (another worker created it first); 10: /etc/passwd is locked by that worker.
        if result.returncode not in (0, 9, 10) and attempt == attempts - 1:
            raise DataPlaneError(f"could not create the system user {name!r} the database servers run as "
                                 f"(PostgreSQL refuses to run as root): {result.stderr.strip() or result.returncode}")
        time.sleep(0.05 * (attempt + 1))
    raise DataPlaneError(f"the system user {name!r} could not be found or created")


def make_owned_dir(path: Path, account: ServerAccount) -> Path:
    """Create `path` (mode 0700) owned by the account; its parent must exist. Returns the path."""
    path.mkdir(mode=0o700)
    if not account.is_self:
        os.chown(path, account.uid, account.gid)
    return path


def state_root(build_dir: Path, name: str, account: ServerAccount) -> tuple[Path, bool]:
    """A fresh directory for one data plane's server files, owned by the account; (path, is_private_tmp).

    Under `build_dir/dataplane/` when the account can reach it, else a private `mkdtemp` directory.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    parent = build_dir / "dataplane"
    parent.mkdir(exist_ok=True)
    if account.can_reach(parent):
        root = parent / f"{name}-{os.getpid()}"
        if root.exists():
            shutil.rmtree(root)
        return make_owned_dir(root, account), False
    private = Path(tempfile.mkdtemp(prefix=f"hastack-dataplane-{name}-"))
    if not account.is_self:
        os.chown(private, account.uid, account.gid)
    return private, True


def reachable_copy(sources: list[Path], account: ServerAccount, root: Path) -> Path | None:
    """Copy unreachable install trees under `root/bin-copy/` (same layout); None when already reachable."""
    if all(account.can_reach(source) for source in sources):
        return None
    target = root / "bin-copy"
    target.mkdir(mode=0o755)
    common = Path(os.path.commonpath([str(source.parent) for source in sources]))
    for source in sources:
        shutil.copytree(source, target / source.relative_to(common), symlinks=True)
    for directory, _, _ in os.walk(target):
        os.chmod(directory, os.stat(directory).st_mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return target / sources[0].relative_to(common)
