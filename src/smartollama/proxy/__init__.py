"""`sollama proxy`: an Ollama- and OpenAI-compatible endpoint that routes every request.

The third front door to the core (DESIGN.md, "Layout"): each request becomes a
`Request`, `api.route` decides it from a fleet snapshot kept in memory, and
the answer is passed through from the chosen host as it arrives.

- `fleet`: the proxy's Environment (the snapshot refreshed in the background,
  its own in-flight counts) and the recorder (decisions written in batches).
- `forward`: one routed request to its host, with fallback before the first
  byte; the answer streamed through unbuffered.
- `routes`: the endpoints, the routing headers in and the decision headers out.
- `metrics`: the Prometheus page.
- `serve`: the listening socket, authentication, uvicorn, SIGTERM.

starlette, uvicorn and aiohttp are imported only here: `sollama run` never loads them.
"""
