"""python -m sandbox (make sandbox): the whole bot in a browser, offline, with one command.

Starts localnet in this process (slot clock on, the seeded tokens' prices walking on their own), makes a fresh
database for this chain (migrations, a demo staff account with its authenticator), then runs the real bot
(``manage.py runbot``) and the web app (the admin and the chat page, ``manage.py runserver``) as child processes
pointed at localnet, and prints the URL. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from localnet import Localnet
from sandbox.demo import DEMO_STAFF_PASSWORD, DEMO_STAFF_USERNAME

BASE_DIR = Path(__file__).resolve().parent.parent
# What the children inherit from this shell; everything the bot reads is set below, so a developer's .env or an
# exported mainnet setting never reaches the sandbox.
DATABASE = "sandbox.sqlite3"
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "SYSTEMROOT", "VIRTUAL_ENV")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000, help="the web app's port (0: any free one)")
    parser.add_argument("--dir", default=".sandbox", help="where the sandbox keeps its database and logs")
    parser.add_argument("--slot-ms", type=int, default=400, help="the slot clock (mainnet: 400 ms)")
    parser.add_argument("--no-price-walk", action="store_true", help="prices move only when someone trades")
    parser.add_argument("--seed", type=int, default=None, help="make the price walk repeatable")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stopped like Ctrl-C: the children and localnet stop with it
    workdir = (BASE_DIR / args.dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (DATABASE, f"{DATABASE}-journal", f"{DATABASE}-wal", f"{DATABASE}-shm", "setup.log"):
        (workdir / name).unlink(missing_ok=True)  # a new chain each run: its database starts afresh with it
    port = _free_port(args.port)
    localnet = Localnet.start(slot_ms=args.slot_ms)
    if not args.no_price_walk:
        localnet.start_price_walk(seed=args.seed)
    children: list[_Child] = []
    try:
        env = _environment(localnet, workdir)
        print("Setting up the sandbox's database (migrations, demo staff account)...", flush=True)
        _manage(env, workdir, "migrate", "--noinput")
        _manage(env, workdir, "createsuperuser", "--noinput", "--username", DEMO_STAFF_USERNAME,
                "--email", "demo@sandbox.invalid", extra={"DJANGO_SUPERUSER_PASSWORD": DEMO_STAFF_PASSWORD})
        otpauth = _manage(env, workdir, "staff_otp", "add", DEMO_STAFF_USERNAME).strip().splitlines()[-1]
        children.append(_Child.spawn(env, workdir, "bot", "runbot"))
        children.append(_Child.spawn(env, workdir, "web", "runserver", f"127.0.0.1:{port}", "--noreload"))
        url = f"http://127.0.0.1:{port}"
        _wait_ready(localnet, f"{url}/sandbox/", children)
        _banner(url, otpauth, localnet, workdir)
        _wait_for_exit(children)
        return 0
    except _SetupFailed as err:
        print(f"The sandbox did not start: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            child.stop()
        localnet.stop()
        print("Sandbox stopped.", file=sys.stderr)


class _SetupFailed(Exception):
    pass


def _environment(localnet: Localnet, workdir: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update(line.split("=", 1) for line in localnet.env_lines())
    env.update({
        "SANDBOX": "true", "DEBUG": "true", "TRADINGBOT_ENV_FILE": os.devnull, "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "tradingbot.settings",
        "DATABASE_URL": f"sqlite:///{workdir / DATABASE}",
        "SECRET_KEY": Fernet.generate_key().decode(), "WALLET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "BOT_METRICS_PORT": "0", "MONITOR_INTERVAL_SECONDS": "2",
    })
    return env


def _manage(env: dict[str, str], workdir: Path, *command: str, extra: dict[str, str] | None = None) -> str:
    result = subprocess.run([sys.executable, "manage.py", *command], cwd=BASE_DIR, env={**env, **(extra or {})},
                            capture_output=True, text=True, timeout=300)
    with open(workdir / "setup.log", "a") as log:
        log.write(f"$ manage.py {' '.join(command)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise _SetupFailed(f"manage.py {command[0]} exited {result.returncode}: "
                           f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result.stdout


@dataclass
class _Child:
    """A manage.py process of the sandbox, writing to its own log."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @classmethod
    def spawn(cls, env: dict[str, str], workdir: Path, name: str, *command: str) -> _Child:
        log_path = workdir / f"{name}.log"
        with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen([sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)  # in this process group: Ctrl-C reaches it too
        return cls(name, process, log_path)

    def exited(self) -> str | None:
        if self.process.poll() is None:
            return None
        return f"the {self.name} process exited {self.process.returncode}; see {self.log_path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_ready(localnet: Localnet, page: str, children: list[_Child], *, timeout: float = 90) -> None:
    """The web app answers and the bot is polling the stand-in."""
    deadline = time.monotonic() + timeout
    web_up = False
    while time.monotonic() < deadline:
        for child in children:
            if why := child.exited():
                raise _SetupFailed(why)
        if not web_up:
            try:
                with urllib.request.urlopen(page, timeout=2) as response:
                    web_up = response.status == 200
            except OSError:
                pass
        if web_up and localnet.telegram.requests["getUpdates"] > 0:
            return
        time.sleep(0.2)
    raise _SetupFailed(f"not ready within {timeout:.0f} s; see the logs in {children[0].log_path.parent}")


def _banner(url: str, otpauth: str, localnet: Localnet, workdir: Path) -> None:
    walking = " ".join(localnet.price_walk.symbols) if localnet.price_walk else "off"
    print(f"""
Sandbox ready: the real bot on a local Solana network. Nothing here touches a real chain or real money.

  Chat with the bot:  {url}/sandbox/
      type /start: your new wallet gets 10 SOL from the local faucet; the page lists the tokens' mints.
  Admin dashboard:    {url}/admin/dashboard/
      username {DEMO_STAFF_USERNAME}   password {DEMO_STAFF_PASSWORD}
      code: the chat page shows the current one, or add this to an authenticator app:
      {otpauth}

  Prices walking on their own: {walking}
  Logs: {workdir}/bot.log, {workdir}/web.log   Ctrl-C stops everything.
""", flush=True)


def _wait_for_exit(children: list[_Child]) -> None:
    while True:
        time.sleep(0.5)
        for child in children:
            if why := child.exited():
                print(f"Stopping: {why}", file=sys.stderr)
                return


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _free_port(wanted: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
        except OSError:
            if wanted:
                print(f"Port {wanted} is taken; using another one.", file=sys.stderr)
            probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
