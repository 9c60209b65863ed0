"""`sollama proxy`: serve Ollama's API and its OpenAI-compatible API, routing every request."""

from __future__ import annotations

import click


@click.command("proxy")
@click.option("--listen", default="127.0.0.1:11400", show_default=True, metavar="HOST:PORT",
              help="Address to serve on (a non-loopback one needs --token or --no-auth).")
@click.option("--token", metavar="T", envvar="SOLLAMA_PROXY_TOKEN",
              help="Require `Authorization: Bearer T` (or set SOLLAMA_PROXY_TOKEN).")
@click.option("--no-auth", is_flag=True,
              help="Serve a non-loopback address without a token (anyone who can reach it).")
@click.option("--http", "http_impl", type=click.Choice(["auto", "h11", "httptools"]),
              default="auto", hidden=True, help="uvicorn's HTTP parser (benchmarks/proxy.py).")
@click.option("--loop", type=click.Choice(["auto", "asyncio", "uvloop"]), default="auto",
              hidden=True, help="uvicorn's event loop (benchmarks/proxy.py).")
def proxy_command(listen: str, token: str | None, no_auth: bool, http_impl: str,
                  loop: str) -> None:
    """An Ollama- and OpenAI-compatible endpoint that routes every request.

    Point clients at http://HOST:PORT as their Ollama host (or at
    http://HOST:PORT/v1 as an OpenAI base URL). Routing headers
    X-Sollama-Urgency, -Task, -Mode, -Policy; each answer carries
    X-Sollama-Decision, which `sollama why ID` explains. See docs/proxy.md.
    """
    from smartollama.proxy.fleet import ProxyEnvironment
    from smartollama.proxy.serve import bind, check_auth, parse_listen, serve

    host, port = parse_listen(listen)
    check_auth(host, port, token, no_auth)
    env = ProxyEnvironment()
    env.config      # a config error is reported before the port is taken  # noqa: B018
    sock = bind(host, port)
    serve(env, sock, token=token, http=http_impl, loop=loop)
