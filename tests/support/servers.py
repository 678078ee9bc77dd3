"""Start the test MCP server (tests/servers/mcp_server.py) in a subprocess: HTTP servers and stdio parameters.

Every process started here is killed at the end: by `RunningServer.stop()`/`__exit__`, by the `http_server`
fixture's finalizer, and, as a last resort, by an atexit hook over every server still alive.
"""

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.env import HAS_FASTMCP, MCP_MAJOR

SERVER_SCRIPT: Path = Path(__file__).resolve().parent.parent / "servers" / "mcp_server.py"
FLAVOURS: tuple[str, ...] = ("lowlevel", "sdk", "fastmcp")
HTTP_TRANSPORTS: tuple[str, ...] = ("streamable-http", "sse")
TRANSPORTS: tuple[str, ...] = ("stdio", *HTTP_TRANSPORTS)
PATHS: dict[str, str] = {"streamable-http": "/mcp", "sse": "/sse"}
START_TIMEOUT: float = 15.0
STOP_TIMEOUT: float = 5.0


# ------------------------------------------------------------------------------------------------
# What each flavour does in this environment (checked by tests/test_support_infra.py)
# ------------------------------------------------------------------------------------------------


def available_flavours() -> list[str]:
    """The flavours this environment can run (`fastmcp` needs the fastmcp package)."""
    return [f for f in FLAVOURS if f != "fastmcp" or HAS_FASTMCP]


def flavour_available(flavour: str) -> bool:
    return flavour in available_flavours()


def supports_idle_timeout(flavour: str) -> bool:
    """Whether `--idle-timeout` works: the session manager has `session_idle_timeout` (mcp 1.30 and 2.x do,
    1.12 does not). fastmcp 3.x has no option for it; the script sets the attribute on its session manager.

    Note: an open GET stream counts as a request in flight, so with mcp's stock client a session only goes
    idle when the server runs with `reject_get_stream=True`.
    """
    if MCP_MAJOR >= 2:
        return True
    import inspect

    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    return "session_idle_timeout" in inspect.signature(StreamableHTTPSessionManager.__init__).parameters


def raise_tool_outcome(flavour: str) -> tuple[str, Any]:
    """What `raise_tool` (ValueError("kaboom") in the tool) turns into, over a handshake-era session.

    Returns ("is_error", expected_text) or ("jsonrpc_error", expected_code).
    """
    v2 = MCP_MAJOR >= 2
    if flavour == "lowlevel":
        return ("jsonrpc_error", 0) if v2 else ("is_error", "kaboom")
    if flavour == "sdk":
        return ("is_error", "Error executing tool raise_tool" + ("" if v2 else ": kaboom"))
    if flavour == "fastmcp":
        return ("is_error", "Error calling tool 'raise_tool': kaboom")
    raise ValueError(flavour)


# JSON-RPC error codes by reproduction: `read_missing_resource` is `resources/read` of ``res://missing``,
# `get_unknown_prompt` is `prompts/get` of ``nope``. Keys: (flavour, mcp major).
_JSONRPC_ERROR_CODES: dict[tuple[str, int], dict[str, int]] = {
    ("lowlevel", 1): {
        "read_missing_resource": -32002,
        "get_unknown_prompt": -32602,
    },  # our handlers raise these
    ("lowlevel", 2): {"read_missing_resource": -32002, "get_unknown_prompt": -32602},
    ("sdk", 1): {"read_missing_resource": 0, "get_unknown_prompt": 0},  # ValueError -> ErrorData(code=0)
    ("sdk", 2): {"read_missing_resource": -32602, "get_unknown_prompt": 0},
    ("fastmcp", 1): {"read_missing_resource": -32002, "get_unknown_prompt": 0},  # fastmcp 3.x
    ("fastmcp", 2): {"read_missing_resource": -32602, "get_unknown_prompt": -32602},  # fastmcp 4.x
}


def jsonrpc_error_codes(flavour: str) -> dict[str, int]:
    """{"read_missing_resource": code, "get_unknown_prompt": code} for `flavour` in this environment."""
    return dict(_JSONRPC_ERROR_CODES[(flavour, 2 if MCP_MAJOR >= 2 else 1)])


# ------------------------------------------------------------------------------------------------
# Ports and processes
# ------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def server_args(
    flavour: str,
    transport: str,
    *,
    port: int | None = None,
    stateless: bool = False,
    idle_timeout: float | None = None,
    reject_get_stream: bool = False,
    instrument: bool = False,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """Command-line arguments for tests/servers/mcp_server.py (without the interpreter)."""
    args = [str(SERVER_SCRIPT), "--flavour", flavour, "--transport", transport]
    if port is not None:
        args += ["--port", str(port)]
    if stateless:
        args.append("--stateless")
    if idle_timeout is not None:
        args += ["--idle-timeout", str(idle_timeout)]
    if reject_get_stream:
        args.append("--reject-get-stream")
    if instrument:
        args.append("--instrument")
    args += list(extra_args)
    return args


_LIVE: "weakref.WeakSet[RunningServer]" = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        with contextlib.suppress(Exception):
            server.kill()


class ServerStartError(RuntimeError):
    pass


@dataclass(eq=False)
class RunningServer:
    """One HTTP server process (streamable HTTP or SSE) on 127.0.0.1:`port`.

    Use as a context manager, or call `stop()`. `restart()` starts a fresh process on the same port.
    """

    flavour: str
    transport: str
    port: int
    argv: list[str]
    env: dict[str, str]
    start_timeout: float = START_TIMEOUT
    proc: "subprocess.Popen[bytes] | None" = None
    startup_seconds: float | None = None  # launch -> port open, of the latest start
    _log_path: str | None = None
    _log_offset: int = 0
    _launched_at: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The MCP endpoint: ``http://127.0.0.1:PORT/mcp`` (streamable HTTP) or ``.../sse`` (SSE)."""
        return self.base_url + PATHS[self.transport]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "RunningServer":
        """Start the process and wait (bounded by `start_timeout`) until the port accepts connections."""
        self.launch()
        return self.wait_ready()

    def launch(self) -> "RunningServer":
        """Start the process without waiting (see `wait_ready`); lets several servers boot in parallel."""
        if self.alive:
            raise RuntimeError("server already running")
        if self._log_path is None:
            fd, self._log_path = tempfile.mkstemp(prefix=f"mcp-server-{self.flavour}-", suffix=".log")
            os.close(fd)
        with open(self._log_path, "ab") as log:
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(
                [sys.executable, *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # own process group: stop()/kill() take any children along
            )
        self._launched_at = time.monotonic()
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    def wait_ready(self) -> "RunningServer":
        """Wait until the port accepts connections; ServerStartError (with the server's log) if the process
        exits first or `start_timeout` passes (the process is then killed)."""
        assert self.proc is not None, "launch() first"
        deadline = self._launched_at + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.flavour}/{self.transport} server exited with {self.proc.returncode} before "
                    f"listening on {self.port}:\n{self.logs(current_run_only=True)}"
                )
            if port_open(self.port):
                self.startup_seconds = time.monotonic() - self._launched_at
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(
                    f"{self.flavour}/{self.transport} server not listening on {self.port} after "
                    f"{self.start_timeout}s:\n{self.logs(current_run_only=True)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Graceful stop: SIGTERM (the script flushes telemetry and exits), SIGKILL after `timeout`.

        Returns the exit code (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        self._signal_group_leftovers()
        return self.proc.returncode

    def kill(self) -> int | None:
        """Abrupt stop: SIGKILL to the process group, no cleanup in the server (for connection-loss tests)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STOP_TIMEOUT)
        self._signal_group_leftovers()
        return self.proc.returncode

    def restart(self, *, graceful: bool = True) -> "RunningServer":
        """Stop (SIGTERM, or SIGKILL if not `graceful`) and start a fresh process on the same port."""
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start()

    def close(self) -> None:
        """Stop the process (SIGKILL if it does not go within a few seconds) and remove the log file."""
        try:
            self.stop()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)
            if self._log_path and os.environ.get("MCP_OTEL_KEEP_SERVER_LOGS") != "1":
                with contextlib.suppress(OSError):
                    os.unlink(self._log_path)
                self._log_path = None

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- diagnostics -------------------------------------------------------------------------------------

    def logs(self, *, current_run_only: bool = False) -> str:
        """The server's stderr/stdout so far (all runs, or only the current one)."""
        if not self._log_path:
            return ""
        try:
            with open(self._log_path, "rb") as log:
                if current_run_only:
                    log.seek(self._log_offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- internals ---------------------------------------------------------------------------------------

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def _signal_group_leftovers(self) -> None:
        # The group leader is gone; anything it spawned in its group goes too.
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def merged_env(env: Mapping[str, str | None] | None) -> dict[str, str]:
    merged = dict(os.environ)
    merged.setdefault("PYTHONUNBUFFERED", "1")
    merged["MCP_TEST_SERVER_WATCH_PARENT"] = "1"  # the server exits if this process dies without stopping it
    for key, value in (env or {}).items():
        if value is None:  # allow removing a variable with {"NAME": None}
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def make_http_server(
    flavour: str,
    transport: str = "streamable-http",
    *,
    env: Mapping[str, str | None] | None = None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    stateless: bool = False,
    idle_timeout: float | None = None,
    reject_get_stream: bool = False,
    instrument: bool = False,
    start_timeout: float = START_TIMEOUT,
) -> RunningServer:
    """A `RunningServer` that is not started yet (call `.start()`, or `.launch()` then `.wait_ready()`)."""
    if transport not in HTTP_TRANSPORTS:
        raise ValueError(f"not an HTTP transport: {transport!r} (use stdio_server_params for stdio)")
    chosen = port if port is not None else free_port()
    return RunningServer(
        flavour=flavour,
        transport=transport,
        port=chosen,
        argv=server_args(
            flavour,
            transport,
            port=chosen,
            stateless=stateless,
            idle_timeout=idle_timeout,
            reject_get_stream=reject_get_stream,
            instrument=instrument,
            extra_args=extra_args,
        ),
        env=merged_env(env),
        start_timeout=start_timeout,
    )


def start_http_server(
    flavour: str,
    transport: str = "streamable-http",
    *,
    env: Mapping[str, str | None] | None = None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    stateless: bool = False,
    idle_timeout: float | None = None,
    reject_get_stream: bool = False,
    instrument: bool = False,
    start_timeout: float = START_TIMEOUT,
) -> RunningServer:
    """Start tests/servers/mcp_server.py with `sys.executable` on 127.0.0.1 and wait until it listens.

    `env` is merged over `os.environ` (a value of None removes a variable). A free port is picked unless
    `port` is given; if the picked port was grabbed in between, it retries with another one.
    Use the result as a context manager, or call `.close()`; the `http_server` fixture does it for you.
    """
    return start_http_servers(
        [
            {
                "flavour": flavour,
                "transport": transport,
                "env": env,
                "extra_args": extra_args,
                "port": port,
                "stateless": stateless,
                "idle_timeout": idle_timeout,
                "reject_get_stream": reject_get_stream,
                "instrument": instrument,
                "start_timeout": start_timeout,
            }
        ]
    )[0]


def start_http_servers(specs: Sequence[Mapping[str, Any]]) -> list[RunningServer]:
    """Start several servers in parallel (each spec holds `make_http_server` keyword arguments) and wait for
    all of them. On any failure every server of the batch is closed and the first error raised."""
    servers = [make_http_server(**spec) for spec in specs]
    try:
        for server in servers:
            server.launch()
        for i, server in enumerate(servers):
            for attempt in range(3):
                try:
                    server.wait_ready()
                    break
                except ServerStartError as exc:
                    # Our free port was taken between free_port() and the bind: try another one.
                    port_taken = "address already in use" in str(exc).lower()
                    if specs[i].get("port") is not None or attempt == 2 or not port_taken:
                        raise
                    server.close()
                    server = servers[i] = make_http_server(**specs[i])
                    server.launch()
    except BaseException:
        for server in servers:
            server.close()
        raise
    return servers


def close_all(
    servers: Iterable[RunningServer], timeout: float = STOP_TIMEOUT, *, graceful: bool = True
) -> None:
    """Stop several servers at once: SIGTERM to all (SIGKILL if not `graceful`), wait (SIGKILL after
    `timeout`), then clean up."""
    servers = list(servers)
    for server in servers:
        if server.alive:
            server._signal(signal.SIGTERM if graceful else signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for server in servers:
        if server.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(max(0.0, deadline - time.monotonic()))
        if server.alive:
            server.kill()
        server.close()


def passthrough_env(prefixes: Iterable[str] = ("OTEL_", "MCP_OTEL_")) -> dict[str, str]:
    """Variables of this process with the given prefixes (mcp's stdio_client does not pass them on)."""
    return {k: v for k, v in os.environ.items() if k.startswith(tuple(prefixes))}


def stdio_server_params(
    flavour: str,
    *,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    instrument: bool = False,
    inherit_otel_env: bool = True,
) -> Any:
    """`mcp.StdioServerParameters` that run tests/servers/mcp_server.py over stdio with `sys.executable`.

    mcp's stdio_client starts the server with a small whitelist of variables plus `env`; here `env` also gets
    this process's OTEL_* and MCP_OTEL_* variables unless `inherit_otel_env=False`. PYTHONUNBUFFERED is set,
    and MCP_TEST_SERVER_WATCH_PARENT=1 (the server exits if its parent process dies).
    """
    from mcp import StdioServerParameters

    merged: dict[str, str] = {"PYTHONUNBUFFERED": "1", "MCP_TEST_SERVER_WATCH_PARENT": "1"}
    if inherit_otel_env:
        merged.update(passthrough_env())
    merged.update(env or {})
    return StdioServerParameters(
        command=sys.executable,
        args=server_args(flavour, "stdio", instrument=instrument, extra_args=extra_args),
        env=merged,
    )


@contextlib.asynccontextmanager
async def serving_in_process(app: Any, path: str = "/mcp") -> Any:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in this event loop (both sides land in one capture);
    yields the URL of `path`, stops the server on exit."""
    import asyncio

    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        server.should_exit = True
        await task
