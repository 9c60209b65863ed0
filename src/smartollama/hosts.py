"""Host strings as Ollama reads OLLAMA_HOST, and the credentials a URL may carry.

`parse_host` gives the base URL every other module sees: without the URL's
`user:password@`, which `split_credentials` hands to the HTTP client alone
(DESIGN.md, "State safety": credentials never reach a file, a verdict, an
error message or `config show`; `redact` shows them as `***`).
"""

from __future__ import annotations

DEFAULT_PORT = 11434


def split_credentials(value: str) -> tuple[str, str | None]:
    """`scheme://user:password@host...` → (the value without them, "user:password",
    percent-decoded); (value, None) when it has none."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    hostport, slash, path = rest.partition("/")
    if "@" not in hostport:
        return value, None
    userinfo, _, hostport = hostport.rpartition("@")
    from urllib.parse import unquote

    user, _, password = userinfo.partition(":")
    return f"{scheme}{sep}{hostport}{slash}{path}", f"{unquote(user)}:{unquote(password)}"


def redact(value: str) -> str:
    """A URL or host as it may be shown: its credentials as `***`."""
    clean, auth = split_credentials(value)
    if auth is None:
        return value
    scheme, sep, rest = clean.partition("://")
    return f"{scheme}://***@{rest}" if sep else f"***@{clean}"


#: the longest host name DNS allows (RFC 1035), and the longest label in it
MAX_HOSTNAME, MAX_LABEL = 253, 63


def parse_host(value: str) -> str:
    """`host`, `host:port`, `:port`, `scheme://host[:port][/path]` → a base URL.

    Follows Ollama's envconfig.Host(): default scheme http, default host
    127.0.0.1, default port 11434 (80/443 when an http/https URL names none);
    a bare IPv6 address (`::1`) is a host. Credentials (`user:password@`) are
    left out (`split_credentials` has them); a message shows them as `***`.
    """
    shown = redact(value.strip())
    s, _ = split_credentials(value.strip().strip("\"'"))
    scheme, sep, rest = s.partition("://")
    if not sep:
        scheme, rest = "http", s
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {scheme!r} in {shown!r}; use http or https")
    hostport, slash, path = rest.partition("/")
    if hostport.count(":") > 1 and not hostport.startswith("["):
        hostport = f"[{hostport}]"    # a bare IPv6 address, as Ollama reads one
    default_port = DEFAULT_PORT
    if sep and scheme == "https":
        default_port = 443
    elif sep and scheme == "http" and hostport and ":" not in hostport.rsplit("]", 1)[-1]:
        default_port = 80
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end < 0:
            raise ValueError(f"invalid IPv6 address (no closing ']') in {shown[:80]!r}")
        host, port_s = hostport[: end + 1], hostport[end + 2:]
    else:
        host, _, port_s = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    host = host or "127.0.0.1"
    if host == "0.0.0.0":
        host = "127.0.0.1"
    _check_host_name(host, shown)
    if port_s:
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise ValueError(f"invalid port {port_s[:20]!r} in {shown[:80]!r}")
        port = int(port_s)
    else:
        port = default_port
    path = ("/" + path).rstrip("/") if slash else ""
    return f"{scheme}://{host}:{port}{path}"


def _check_host_name(host: str, shown: str) -> None:
    """A name a resolver can look up: DNS's lengths, no spaces or control characters."""
    if host.startswith("["):
        if not host.endswith("]") or not all(c in "0123456789abcdefABCDEF:." for c in host[1:-1]):
            raise ValueError(f"invalid IPv6 address {host[:60]!r} in {shown[:80]!r}")
        return
    if len(host) > MAX_HOSTNAME or any(len(label) > MAX_LABEL for label in host.split(".")):
        raise ValueError(f"host name too long ({len(host)} characters; DNS allows "
                         f"{MAX_HOSTNAME}, {MAX_LABEL} a label): {shown[:60]!r}...")
    if "" in host.removesuffix(".").split(".") or any(
            c.isspace() or not c.isprintable() or c in "/?#@[]\\" for c in host):
        raise ValueError(f"invalid host name {host[:60]!r} in {shown[:80]!r}")
