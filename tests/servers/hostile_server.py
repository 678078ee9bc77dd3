"""A raw, hostile MCP peer over stdio (no SDK): every string it controls is huge.

``initialize`` is answered with a 1 MB ``protocolVersion`` and 1 MB server name and version; ``tools/call``
with a JSON-RPC error of a code outside JSON-RPC's range and a 1 MB message; anything else with ``{}``.
Notifications are ignored. Exits when stdin closes.
"""

import json
import sys

HUGE = "9" * 1_000_000


def answer(message: dict) -> dict | None:
    if "id" not in message:
        return None
    method = message.get("method")
    if method == "initialize":
        result = {
            "protocolVersion": f"2025-{HUGE}",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": f"name-{HUGE}", "version": f"version-{HUGE}"},
        }
        return {"jsonrpc": "2.0", "id": message["id"], "result": result}
    if method == "tools/call":
        error = {"code": 987654, "message": f"message-{HUGE}"}
        return {"jsonrpc": "2.0", "id": message["id"], "error": error}
    return {"jsonrpc": "2.0", "id": message["id"], "result": {}}


def main() -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
