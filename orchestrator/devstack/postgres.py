"""A private PostgreSQL cluster on loopback from Debian's `postgresql` package, for tests and benchmarks.

`LocalPostgres(root, port).up()` runs `initdb` into `root/data` (once) and starts the server on
`127.0.0.1:port`, with its socket in `root` too, so it never touches a system cluster. PostgreSQL
refuses to run as root; as root (CI, this machine) both commands run as the package's `postgres`
user, which owns `root`. `durable=False` turns fsync off: a test or benchmark database that a
crash may lose, but which is the same server and the same SQL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from orchestrator.errors import StackError

ROLE = "sagabridge"
_INSTALL_HINT = "install Debian's PostgreSQL (apt-get install postgresql), or set SAGABRIDGE_PG_BIN to its bin/"


def postgres_bin_dir() -> Path:
    """Where initdb/pg_ctl live: $SAGABRIDGE_PG_BIN, Debian's newest /usr/lib/postgresql/*/bin, or PATH."""
    configured = os.environ.get("SAGABRIDGE_PG_BIN")
    candidates = [configured] if configured else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise StackError(f"no PostgreSQL server binaries (initdb, pg_ctl) found; {_INSTALL_HINT}")


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


class LocalPostgres:
    def __init__(self, root: Path, port: int, *, durable: bool = False) -> None:
        self.root = root
        self.port = port
        self.durable = durable
        self.data = root / "data"
        self.log = root / "postgres.log"
        self._bin = postgres_bin_dir()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def up(self, timeout_s: float = 60.0) -> None:
        """initdb if needed, then start and wait until it accepts connections (idempotent)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._own(self.root)
        if not (self.data / "PG_VERSION").exists():
            self._run(
                [str(self._bin / "initdb"), "-D", str(self.data), "-U", ROLE, "--auth=trust", "-E", "UTF8"],
                timeout_s,
            )
        if self.running():
            return
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        pg_ctl = str(self._bin / "pg_ctl")
        wait = ["-w", "-t", str(int(timeout_s))]
        self._run([pg_ctl, "start", "-D", str(self.data), "-l", str(self.log), "-o", options, *wait], timeout_s + 10)

    def running(self) -> bool:
        return self._call([str(self._bin / "pg_ctl"), "status", "-D", str(self.data)], 30).returncode == 0

    def down(self, timeout_s: float = 60.0) -> None:
        if self.data.exists() and self.running():
            self._run([str(self._bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"], timeout_s)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # --- running as the cluster's owner ---------------------------------------------------------
    def _owner(self) -> pwd.struct_passwd | None:
        """PostgreSQL will not run as root: then the cluster belongs to the `postgres` user."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError as exc:
            raise StackError(
                f"running as root, but there is no `postgres` user to run the server; {_INSTALL_HINT}"
            ) from exc

    def _own(self, path: Path) -> None:
        owner = self._owner()
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _call(self, cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
        owner = self._owner()
        return subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            user=None if owner is None else owner.pw_uid,
            group=None if owner is None else owner.pw_gid,
            extra_groups=None if owner is None else [],
            cwd=self.root,
        )

    def _run(self, cmd: list[str], timeout_s: float) -> None:
        try:
            result = self._call(cmd, timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"{Path(cmd[0]).name} did not finish within {timeout_s:.0f}s; see {self.log}") from exc
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise StackError(f"{' '.join(cmd[:2])} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")
