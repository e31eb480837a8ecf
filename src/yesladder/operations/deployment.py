"""The files of a production setup (docs/deploy.md), filled in from the shipped templates in
`operations/files`: the systemd units of the web server and the worker, their environment file,
and the Caddyfile. Nothing existing is overwritten unless asked: the environment file holds the
secret key that signs every link already sent."""

import secrets
import sys
from importlib.resources import files
from pathlib import Path
from string import Template

UNITS = ("yesladder-web.service", "yesladder-worker.service")
ENV_FILE = "yesladder.env"


class DeployError(Exception):
    pass


def systemd(to: Path, *, user: str, home: Path, domain: str, port: int, workers: int,
            env_file: Path, force: bool = False) -> list[Path]:  # fmt: skip
    values = {
        "user": user, "home": str(home), "domain": domain, "port": port, "workers": workers,
        "env_file": str(env_file), "command": f"{sys.executable} -m yesladder.cli",
        "secret_key": secrets.token_urlsafe(50), "metrics_token": secrets.token_urlsafe(32),
    }  # fmt: skip
    targets = {to / name: _filled(name, values) for name in UNITS}
    _refuse_existing([*targets, env_file], force)
    written = [_write(path, text) for path, text in targets.items()]
    return [*written, _write(env_file, _filled(ENV_FILE, values), mode=0o600)]


def caddyfile(to: Path, *, domain: str, upstream: str, force: bool = False) -> Path:
    _refuse_existing([to / "Caddyfile"], force)
    return _write(to / "Caddyfile", _filled("Caddyfile", {"domain": domain, "upstream": upstream}))


def _filled(name: str, values: dict) -> str:
    return Template((files("yesladder.operations") / "files" / name).read_text()).substitute(values)


def _refuse_existing(paths: list[Path], force: bool) -> None:
    there = [str(p) for p in paths if p.exists()]
    if there and not force:
        raise DeployError(f"{', '.join(there)} exist(s); nothing was written (--force replaces)")


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path
