"""uvicorn_app.py's MCP server over stdio, ending with ``os._exit(0)`` as soon as the server has stopped: no
``atexit``, like a server whose parent kills it the moment its stdio transport closes. What it recorded
reaches the collector only if the server's stop flushed it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from uvicorn_app import server

server.run()  # stdio
os._exit(0)
