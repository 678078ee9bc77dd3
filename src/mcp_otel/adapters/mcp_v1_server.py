"""mcp 1.x server: the low-level ``Server``, mcp's bundled FastMCP and fastmcp 3.x (all on ``Server``).

* Requests: ``Server._handle_request`` (every request but ``initialize``), which runs in the session's
  handler task; the outcome is read where the response is handed over, ``RequestResponder.respond``.
* ``initialize`` never reaches ``_handle_request``: ``ServerSession._received_request`` answers it in the
  receive loop (fastmcp 3.x overrides that method to run its middleware first; both are wrapped, one span).
  A request that arrives before the handshake is refused there too (-32602), and traced.
* Sessions: one ``ServerSession`` per stdio/SSE connection and per stateful streamable-HTTP session, entered
  and exited by ``Server.run``; stateless HTTP (``stateless=True``, one ServerSession per POST) has none.
* mcp 1.x has no native telemetry; fastmcp 3.x's is handled in :mod:`mcp_otel.adapters.fastmcp_v3`.
"""

from __future__ import annotations

from typing import Any

from mcp_otel._arguments import Arguments
from mcp_otel._patching import Patcher
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.adapters._client import exit_exception
from mcp_otel.adapters._native import enabled, silenced
from mcp_otel.adapters._server import ServerHub, TransportBinding, describe_http
from mcp_otel.server import (
    IncomingRequest,
    ServerCall,
    ServerSessionInfo,
    ServerSessionRecord,
    run_server_call,
    start_server_call,
)
from mcp_otel.session import request_info
from mcp_otel.streams import STREAM_OWNER
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error

_STDIO_IMPORT_SITES = [
    "mcp",
    "mcp.server.__main__",
    "mcp.server.lowlevel.server",
    "mcp.server.fastmcp.server",
    "fastmcp.server.low_level",
    "fastmcp.server.mixins.transport",
]
_INVALID_PARAMS = -32602
_EXCLUDED = object()  # the answer for a request of an excluded method
# Server._handle_request(message, req, session, ...): what _start_handled reads
_HANDLE_PARAMETERS = ("message", "req", "session")
# RequestResponder.respond(response)
_RESPOND = Arguments(("response",))


class McpV1ServerAdapter:
    """Patches the mcp 1.x server."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.hub = ServerHub(telemetry)
        # ServerSession -> (transport binding, stateless) from its constructor, then -> its record
        self._pending: IdentityWeakMap[tuple[TransportBinding | None, bool]] = IdentityWeakMap()
        self._sessions: IdentityWeakMap[ServerSessionRecord] = IdentityWeakMap()
        self._owner_tokens: IdentityWeakMap[Any] = IdentityWeakMap()
        # RequestResponder -> the call traced for it (read by the respond wrapper)
        self._calls: IdentityWeakMap[ServerCall] = IdentityWeakMap()

    def apply(self, patcher: Patcher) -> None:
        from mcp.server.lowlevel.server import Server
        from mcp.server.session import ServerSession
        from mcp.shared.session import RequestResponder

        self.hub.apply_transports(patcher, _STDIO_IMPORT_SITES, capture_http=True)
        self._session_args = Arguments.of_method(
            ServerSession, "__init__", ("read_stream", "write_stream", "init_options", "stateless")
        )
        self._received_args = Arguments.of_method(ServerSession, "_received_request", ("responder",))
        self._handle_args = Arguments.of_method(
            Server, "_handle_request", ("message", "req", "session", "lifespan_context", "raise_exceptions")
        )
        patcher.wrap(ServerSession, "__init__", self._session_init)
        patcher.wrap(ServerSession, "__aenter__", self._session_aenter)
        patcher.wrap(ServerSession, "__aexit__", self._session_aexit)
        patcher.wrap(ServerSession, "_received_request", self.received_request)
        patcher.wrap(Server, "_handle_request", self._handle_request)
        patcher.wrap(RequestResponder, "respond", self._respond)

    # --- sessions ---------------------------------------------------------------------------------
    def _session_init(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        self._remember_session(instance, args, kwargs)
        return result

    @guarded
    def _remember_session(self, session: Any, args: Any, kwargs: Any) -> None:
        read_stream = self._session_args.get(args, kwargs, "read_stream")
        stateless = bool(self._session_args.get(args, kwargs, "stateless", False))
        self._pending.set(session, (self.hub.binding_for(read_stream), stateless))

    async def _session_aenter(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record = self._open_session(instance)
        # The session's receive loop and the tasks it spawns inherit this: their streams are the session's.
        # Set in the task that runs Server.run; the matching __aexit__ (same task) resets it.
        if record is not None:
            self._owner_tokens.set(instance, STREAM_OWNER.set(record))
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as exc:
            if record is not None:
                self._reset_owner(instance)
                record.end(exc)
            raise

    def _reset_owner(self, session: Any) -> None:
        token = self._owner_tokens.pop(session)
        if token is not None:
            try:
                STREAM_OWNER.reset(token)
            except ValueError:  # exited from another context than it was entered in: nothing to undo here
                pass

    def _open_session(self, session: Any) -> ServerSessionRecord | None:
        try:
            pending = self._pending.pop(session)
            binding, stateless = pending if pending is not None else (None, False)
            if stateless or (binding is not None and binding.stateless) or not enabled():
                return None
            record = ServerSessionRecord(
                self.telemetry, binding.session_info() if binding is not None else ServerSessionInfo()
            )
            if binding is not None:
                record.expired_probe = binding.expired
            self._sessions.set(session, record)
            return record
        except Exception:
            report_internal_error("mcp_v1_server._open_session")
            return None

    async def _session_aexit(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record = self._sessions.pop(instance)
        self._reset_owner(instance)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            if record is not None:
                record.end(exc)
            raise
        if record is not None:
            exited_with = exit_exception(args, kwargs)
            record.end(exited_with if not result else None)
        return result

    # --- requests ---------------------------------------------------------------------------------
    async def received_request(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``ServerSession._received_request`` (and fastmcp 3.x's override): initialize, early refusals."""
        responder, root, initialize = self._received(args, kwargs)
        if not initialize:
            try:
                return await wrapped(*args, **kwargs)
            except Exception:
                # The receive loop answers INVALID_PARAMS (e.g. a request before initialization).
                self._refused(instance, responder, root)
                raise
        call = self._start(instance, responder, root)
        if call is None:
            return await wrapped(*args, **kwargs)
        result = await run_server_call(call, wrapped, args, kwargs)  # FastMCP's SERVER span folded in
        if not call.finished:  # no response was read at respond(): the handshake is taken as answered
            call.succeeded()
        return result

    async def _handle_request(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``Server._handle_request(message, req, session, lifespan_context, raise_exceptions)``."""
        call = self._start_handled(args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        if call is _EXCLUDED:
            with silenced():  # FastMCP's own SERVER span for it too (DESIGN rule 2)
                return await wrapped(*args, **kwargs)
        result = await run_server_call(call, wrapped, args, kwargs)  # FastMCP's SERVER span folded in
        if not call.finished:
            # No response went out: the client cancelled the request (or the transport closed first).
            call.cancelled()
        return result

    def _respond(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        # Not a coroutine function: the outcome is read when respond() is called, and the caller awaits
        # the library's own coroutine (no coroutine of ours per request).
        self._responded(instance, args, kwargs)
        return wrapped(*args, **kwargs)

    def _responded(self, responder: Any, args: Any, kwargs: Any) -> None:
        # Guarded inline, not by @guarded: called per request (one frame less).
        try:
            call = self._calls.get(responder)
            if call is not None and not call.finished:
                if call.inert:  # nothing reads the outcome: the response is not looked at
                    call.succeeded()
                else:
                    _record_response(call, _RESPOND.get(args, kwargs, "response"))
        except Exception:
            report_internal_error("McpV1ServerAdapter._responded")

    def _received(self, args: Any, kwargs: Any) -> tuple[Any, Any, bool]:
        """(responder, request root, whether it is an initialize this wrapper traces)."""
        try:
            responder = self._received_args.get(args, kwargs, "responder")
            root = getattr(getattr(responder, "request", None), "root", None)
            initialize = type(root).__name__ == "InitializeRequest" and self._calls.get(responder) is None
            return responder, root, initialize
        except Exception:
            report_internal_error("mcp_v1_server._received")
            return None, None, False

    def _start_handled(self, args: Any, kwargs: Any) -> Any:
        try:
            message, req, session = self._handle_args.values(args, kwargs, _HANDLE_PARAMETERS)
            if not enabled():
                return None
            if str(getattr(req, "method", "")) in self.telemetry.config.excluded_methods:
                return _EXCLUDED
        except Exception:
            report_internal_error("mcp_v1_server._start_handled")
            return None
        return self._start(session, message, req, checked=True)

    def _start(self, session: Any, responder: Any, req: Any, *, checked: bool = False) -> ServerCall | None:
        """``checked``: the caller found mcp-otel enabled just now (not asked twice per request)."""
        try:
            if responder is None or not (checked or enabled()):
                return None
            record = self._sessions.get(session)
            call = start_server_call(self.telemetry, self._describe(session, record, responder, req), record)
            if call is not None:
                self._calls.set(responder, call)
            return call
        except Exception:
            report_internal_error("mcp_v1_server._start")
            return None

    @guarded
    def _refused(self, session: Any, responder: Any, root: Any) -> None:
        if responder is None or self._calls.get(responder) is not None or not enabled():
            return
        call = self._start(session, responder, root)
        if call is not None:
            call.error_reply(_INVALID_PARAMS, "Invalid request parameters")

    def _describe(
        self, session: Any, record: ServerSessionRecord | None, responder: Any, req: Any
    ) -> IncomingRequest:
        method = str(getattr(req, "method", "unknown"))
        params = getattr(req, "params", None)
        request_id = getattr(responder, "request_id", None)
        info = request_info(method, request_id, lambda key: getattr(params, key, None))
        incoming = IncomingRequest(info=info, meta=getattr(responder, "request_meta", None))
        metadata = getattr(responder, "message_metadata", None)
        http_request = getattr(metadata, "request_context", None)
        if http_request is not None:
            describe_http(incoming, http_request)
            incoming.ambient = self.hub.http_span(http_request)
        elif record is None:
            binding = self._pending_binding(session)
            incoming.transport = binding.kind if binding is not None else None
        return incoming

    def _pending_binding(self, session: Any) -> TransportBinding | None:
        pending = self._pending.get(session)
        return pending[0] if pending is not None else None


def _record_response(call: ServerCall, response: Any) -> None:
    """The response handed to ``RequestResponder.respond``: a ``ServerResult`` or an ``ErrorData``."""
    # Guarded inline, not by @guarded: called per request (one frame less).
    try:
        if type(response).__name__ == "ErrorData":
            code = getattr(response, "code", None)
            if isinstance(code, int):
                call.error_reply(code, getattr(response, "message", None))
                return
        result = getattr(response, "root", response)
        kind = type(result).__name__
        if kind == "CallToolResult":
            call.succeeded(
                is_error=getattr(result, "isError", False) is True,
                payload=lambda: result.model_dump(by_alias=True, mode="json", exclude_none=True),
            )
        elif kind == "InitializeResult":
            call.succeeded(protocol_version=getattr(result, "protocolVersion", None))
        else:
            # the payload (read for tools/list and prompts/list only) tells the names the server registers
            call.succeeded(payload=lambda: result.model_dump(by_alias=True, mode="json", exclude_none=True))
    except Exception:
        report_internal_error("_record_response")
