"""A small HTTP/1.1 client over the standard library's socket, for the CLI's few calls.

Why not httpx or `http.client` (the proxy forwards with aiohttp): sollama
runs before every prompt, and what it imports is felt. Measured with
``python -X importtime`` on the 2-core CI machine: httpx ~120 ms (its command
line module pulls in click, rich and pygments when rich is installed) and
~46 ms more for the CA-bundle TLS context each `httpx.Client` builds, plain
http hosts too; `http.client` ~18 ms, most of it `email.parser` and `ssl`
(imported at module level whatever the scheme); `socket` ~3 ms, most of it
the enums it builds and `selectors`, so the client speaks through its C core,
`_socket` (`socket` and `ssl` are imported for an ``https://`` host). Ollama's API
needs little: one request per connection (``Connection: close``), a body by
Content-Length, chunks (its streams) or up to the close, basic authentication
and headers; `ssl` (with certifi's CA bundle when installed, as httpx uses)
is imported only for an ``https://`` host. No proxies and no redirects (the
client was built with httpx's ``trust_env=False``, which never followed any).

The errors mirror httpx's names, so a caller maps them the same way:
`ConnectError` and `ConnectTimeout` (nothing reached the host), `ReadTimeout`
and `WriteTimeout`, `ReadError` and `RemoteProtocolError` (the connection
broke or spoke something else), all `TransportError`; `InvalidURL`.
"""

from __future__ import annotations

import _socket
import io
import json
from collections.abc import Iterator

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ConnectError", "ConnectTimeout", "InvalidURL", "ReadError", "ReadTimeout",
           "RemoteProtocolError", "Response", "TimeoutException", "TransportError",
           "Transport", "WriteTimeout"]

#: what one header block may hold (Ollama's are a few hundred bytes)
MAX_HEADER_BYTES = 64 * 1024
_READ_SIZE = 64 * 1024


class TransportError(Exception):
    """The exchange failed below HTTP: no connection, a time-out, a broken stream."""


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class ConnectError(TransportError):
    pass


class ReadError(TransportError):
    pass


class RemoteProtocolError(TransportError):
    pass


class InvalidURL(ValueError):
    pass


def split_url(url: str) -> tuple[str, str, int, str]:
    """``scheme://host[:port][/path]`` → (scheme, host, port, path as given);
    an IPv6 host without its brackets."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise InvalidURL(f"not an http or https URL: {url[:80]!r}")
    hostport, slash, path = rest.partition("/")
    if "@" in hostport:
        raise InvalidURL("credentials belong in auth, not in the URL")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise InvalidURL(f"invalid IPv6 address in {url[:80]!r}")
        host, port_s = hostport[1:end], hostport[end + 1:].removeprefix(":")
    else:
        host, _, port_s = hostport.partition(":")
    if not host:
        raise InvalidURL(f"no host in {url[:80]!r}")
    if port_s and (not port_s.isdigit() or not 0 < int(port_s) < 65536):
        raise InvalidURL(f"invalid port {port_s[:20]!r}")
    port = int(port_s) if port_s else (443 if scheme == "https" else 80)
    return scheme, host, port, slash + path


class Transport:
    """One host's base URL, headers and time-outs; each request its own connection.

    ``auth``: (user, password) for basic authentication. ``read_timeout``: each
    read and write of a request (None: no limit)."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None,
                 auth: tuple[str, str] | None = None, connect_timeout: float | None = 2.0,
                 read_timeout: float | None = None) -> None:
        self.scheme, self.host, self.port, base_path = split_url(base_url)
        self.base_path = base_path.rstrip("/")
        self.headers = dict(headers or {})
        if auth is not None:
            import binascii

            token = binascii.b2a_base64(f"{auth[0]}:{auth[1]}".encode(), newline=False)
            self.headers["Authorization"] = "Basic " + token.decode("ascii")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def request(self, method: str, path: str, *, json_body: Any = None,
                timeout: tuple[float | None, float | None] | None = None) -> Response:
        """Send a request and read the status line and headers; the body is
        the Response's to read (`read`, `iter_lines`). Close it when done.
        ``timeout``: (connect, read) for this request instead of the transport's."""
        connect, read = timeout or (self.connect_timeout, self.read_timeout)
        sock = self._connect(connect, read)
        try:
            self._send(sock, method, path, json_body)
            return Response(sock, method)
        except BaseException:
            sock.close()
            raise


    # -- internals ------------------------------------------------------------------

    def _connect(self, connect: float | None, read: float | None) -> _socket.socket:
        host = self.host
        try:
            # bytes: getaddrinfo encodes a str with the idna codec, ~2 ms to import
            name = host.encode("ascii") if host.isascii() else host.encode("idna")
            sock = _create_connection(name, self.port, connect)
        except TimeoutError as e:
            raise ConnectTimeout(str(e) or "timed out connecting") from None
        except (OSError, UnicodeError) as e:
            raise ConnectError(str(e) or type(e).__name__) from None
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            if self.scheme == "https":
                sock.settimeout(connect)
                sock = _tls(sock, name.decode("ascii"))
            sock.settimeout(read)
        except TimeoutError as e:
            sock.close()
            raise ConnectTimeout(str(e) or "timed out in the TLS handshake") from None
        except OSError as e:            # ssl.SSLError is an OSError
            sock.close()
            raise ConnectError(str(e) or type(e).__name__) from None
        return sock

    def _send(self, sock: _socket.socket, method: str, path: str, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        authority = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != (443 if self.scheme == "https" else 80):
            authority += f":{self.port}"
        lines = [f"{method} {self.base_path}{path or '/'} HTTP/1.1", f"Host: {authority}",
                 "Accept: */*", "Connection: close"]
        if body is not None or method in ("POST", "PUT"):
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            sock.sendall(head + data)
        except TimeoutError as e:
            raise WriteTimeout(str(e) or "timed out sending") from None
        except OSError as e:
            raise ReadError(str(e) or type(e).__name__) from None


def get_text(url: str, *, timeout: float | None, headers: dict[str, str] | None = None,
             auth: tuple[str, str] | None = None, max_redirects: int = 5) -> tuple[int, str]:
    """GET a whole page: (status, text), following redirects (the credentials
    only while the redirects stay on the same host)."""
    for _ in range(max_redirects + 1):
        scheme, host, port, path = split_url(url)
        origin = url[: len(url) - len(path)] if path else url
        t = Transport(origin, headers=headers, auth=auth, connect_timeout=timeout,
                      read_timeout=timeout)
        with t.request("GET", path or "/") as r:
            location = r.headers.get("location")
            if r.status not in (301, 302, 303, 307, 308) or not location:
                return r.status, r.text()
        if location.startswith("/"):
            url = origin + location
        else:
            if split_url(location)[1:3] != (host, port):
                auth = None
            url = location
    raise RemoteProtocolError(f"more than {max_redirects} redirects")


def _create_connection(name: bytes, port: int, timeout: float | None) -> _socket.socket:
    """`socket.create_connection` on the C socket: the first of the host's addresses
    that connects (the first one's error when none does)."""
    errors: list[OSError] = []
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0,
                                                                _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as e:
            sock.close()
            errors.append(e)
    raise errors[0] if errors else OSError("getaddrinfo returned no address")


def _tls(raw: _socket.socket, server_hostname: str) -> _socket.socket:
    """The socket wrapped for an https host: the system's CA certificates and
    certifi's bundle where it is installed (ssl, and socket for it, imported only here)."""
    import socket
    import ssl

    sock = socket.socket(fileno=raw.detach())

    ctx = ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        pass
    else:
        ctx.load_verify_locations(certifi.where())
    return ctx.wrap_socket(sock, server_hostname=server_hostname)


class Response:
    """A response whose status line and headers are read; the body is read on demand."""

    def __init__(self, sock: _socket.socket, method: str) -> None:
        self._sock = sock
        self._file = io.BufferedReader(_Reader(sock))   # as `sock.makefile("rb")`
        self.status, self.headers = self._head()
        self._method = method
        self._body: bytes | None = None

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def set_read_timeout(self, seconds: float | None) -> None:
        """The limit on each read from now on (the silence between chunks)."""
        self._sock.settimeout(seconds)

    def read(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self.iter_bytes())
        return self._body

    def text(self) -> str:
        return self.read().decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.read())

    def iter_lines(self) -> Iterator[str]:
        """The body's lines as they arrive (without their line ends)."""
        pending = b""
        for piece in self.iter_bytes():
            pending += piece
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.rstrip(b"\r").decode("utf-8", "replace")
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", "replace")

    def iter_bytes(self) -> Iterator[bytes]:
        """The body as it arrives: by chunks, by Content-Length, or up to the close."""
        if self._method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            return
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            yield from self._chunks()
            return
        length = self.headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise RemoteProtocolError(f"invalid Content-Length {length[:20]!r}")
            left = int(length)
            while left > 0:
                piece = self._read1(min(left, _READ_SIZE))
                if not piece:
                    raise RemoteProtocolError("peer closed the connection without sending "
                                              "the complete body")
                left -= len(piece)
                yield piece
            return
        while piece := self._read1(_READ_SIZE):
            yield piece

    # -- internals ------------------------------------------------------------------

    def _head(self) -> tuple[int, dict[str, str]]:
        line = self._readline()
        if not line:
            raise RemoteProtocolError("server disconnected without sending a response")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise RemoteProtocolError(f"not an HTTP response: {line[:80]!r}")
        headers: dict[str, str] = {}
        size = len(line)
        while True:
            h = self._readline()
            size += len(h)
            if size > MAX_HEADER_BYTES:
                raise RemoteProtocolError("response headers too long")
            if h in (b"\r\n", b"\n", b""):
                break
            name, sep, value = h.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self._readline()
            if not size_line:
                raise RemoteProtocolError("peer closed the connection without sending the "
                                          "complete body (incomplete chunked read)")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise RemoteProtocolError(f"invalid chunk size {size_line[:20]!r}") from None
            if size == 0:
                while self._readline() not in (b"\r\n", b"\n", b""):    # trailers
                    pass
                return
            data = self._read_exactly(size)
            self._readline()        # the chunk's CRLF
            yield data

    def _read_exactly(self, n: int) -> bytes:
        parts, left = [], n
        while left:
            piece = self._read1(left)
            if not piece:
                raise RemoteProtocolError("peer closed the connection without sending the "
                                          "complete body (incomplete chunked read)")
            parts.append(piece)
            left -= len(piece)
        return b"".join(parts)

    def _readline(self) -> bytes:
        try:
            return self._file.readline(MAX_HEADER_BYTES + 1)
        except TimeoutError as e:
            raise ReadTimeout(str(e) or "timed out") from None
        except OSError as e:
            raise ReadError(str(e) or type(e).__name__) from None

    def _read1(self, n: int) -> bytes:
        try:
            return self._file.read1(n)
        except TimeoutError as e:
            raise ReadTimeout(str(e) or "timed out") from None
        except OSError as e:
            raise ReadError(str(e) or type(e).__name__) from None


class _Reader(io.RawIOBase):
    """The socket's reads for a BufferedReader (what `socket.makefile` builds on)."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)
