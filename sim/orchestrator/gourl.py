"""Go's ``net/url`` parsing and ``net/http.ServeMux`` path rules, as far as the Live Runner routes need them, so a
URL lpdev accepts, refuses, forwards to or redirects to is the one go-livepeer would.

* :func:`parse_url` is ``url.Parse`` (the fragment is split off first) and, with ``request=True``,
  ``url.ParseRequestURI`` (nothing is split off: a ``#`` stays in the path or query, so go accepts
  ``http://h/x#f`` as a runner or proxy target with the path ``/x#f``). ``None`` where go returns an error.
* :meth:`GoURL.string` is ``URL.String()`` (the path re-escaped as ``EscapedPath``: ``/x#f`` becomes ``/x%23f``).
* :func:`escape_path` is go's path escaping (``escape(p, encodePath)``): ``! ' ( ) *`` and spaces are escaped,
  ``$ & + , / : ; = @`` are not.
* :func:`clean_path` is ``ServeMux``'s ``cleanPath`` (``.``, ``..`` and ``//`` removed, a trailing slash kept).
"""
from __future__ import annotations

import ipaddress
import posixpath
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = ["GoURL", "parse_url", "escape_path", "clean_path"]

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HOST_OK = _ALNUM | frozenset("-_.~!$&'()*+,;=:[]<>\"")  # shouldEscape(c, encodeHost) is false
_USERINFO_OK = _ALNUM | frozenset("-._:~!$&'()*+,;=%@")  # validUserinfo
_PATH_VALID = _ALNUM | frozenset("-_.~$&+,/:;=@!'()*[]%")  # validEncoded(s, encodePath)
_PATH_SAFE = "/$&+,:;=@"  # kept by escape(p, encodePath), besides alphanumerics and -_.~
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class GoURL:
    scheme: str = ""
    opaque: str = ""
    userinfo: str | None = None  # as written
    host: str = ""  # host[:port], unescaped (go URL.Host)
    path: str = ""  # unescaped (go URL.Path)
    raw_path: str = ""  # as written
    query: str | None = None  # go RawQuery (None: no "?")
    fragment: str | None = None

    @property
    def hostname(self) -> str:
        """go ``URL.Hostname()``: the host without port and brackets."""
        host = self.host
        colon = host.rfind(":")
        if colon != -1 and _valid_port(host[colon:]):
            host = host[:colon]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return host

    def escaped_path(self) -> str:
        """go ``URL.EscapedPath()``: the path as written when that is a valid encoding of it, else re-escaped."""
        raw = self.raw_path
        if raw and all(c in _PATH_VALID for c in raw) and _unescape(raw) == self.path:
            return raw
        return escape_path(self.path)

    def string(self) -> str:
        """go ``URL.String()`` (for the URLs lpdev stores: scheme, authority, path, query)."""
        out = self.scheme + ":" if self.scheme else ""
        if self.opaque:
            out += self.opaque
        else:
            if self.scheme or self.host or self.userinfo is not None:
                out += "//"
                if self.userinfo is not None:
                    out += self.userinfo + "@"
                out += "".join(c if c < "\x80" else quote(c, errors="surrogateescape") for c in self.host)
            out += self.escaped_path()
        if self.query is not None:
            out += "?" + self.query
        if self.fragment is not None:
            out += "#" + self.fragment
        return out


def _valid_port(colon_port: str) -> bool:
    """go ``validOptionalPort``: "" or ":" followed by digits only (no range check)."""
    if colon_port == "":
        return True
    return colon_port[0] == ":" and all("0" <= c <= "9" for c in colon_port[1:])


def _unescape(s: str, *, host: bool = False) -> str | None:
    """go ``unescape``: None on a bad ``%`` escape (or, in a host, an escaped ASCII byte other than %25, or a
    character a host may not hold)."""
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "%":
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                return None
            if host and int(s[i + 1], 16) < 8 and s[i:i + 3] != "%25":
                return None
            i += 3
        else:
            if host and c < "\x80" and c not in _HOST_OK:
                return None
            i += 1
    return unquote(s, errors="surrogateescape") if "%" in s else s


def _parse_host(host: str) -> str | None:
    """go ``parseHost``: a bracketed IPv6 literal or a name, an optional all-digit port."""
    if host.startswith("["):
        i = host.rfind("]")
        if i < 0 or not _valid_port(host[i + 1:]):
            return None
        literal, _, zone = host[1:i].partition("%25")
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return None
        if zone and _unescape(zone) is None:
            return None
    else:
        i = host.rfind(":")
        if i != -1 and not _valid_port(host[i:]):
            return None
    return _unescape(host, host=True)


def parse_url(raw: str, *, request: bool = False) -> GoURL | None:
    """go ``url.Parse`` (``request=False``) or ``url.ParseRequestURI`` (``request=True``); None where go errs."""
    if any(c < " " or c == "\x7f" for c in raw):  # stringContainsCTLByte
        return None
    fragment = None
    if not request:
        raw, sep, frag = raw.partition("#")
        if sep:
            fragment = frag
    if raw == "" and request:
        return None
    scheme, rest = "", raw
    for i, c in enumerate(raw):  # getScheme
        if c.isascii() and c.isalpha():
            continue
        if c in "0123456789+-.":
            if i == 0:
                break
            continue
        if c == ":":
            if i == 0:
                return None  # missing protocol scheme
            scheme, rest = raw[:i].lower(), raw[i + 1:]
        break
    query = None
    if rest.endswith("?") and rest.count("?") == 1:
        rest, query = rest[:-1], ""
    elif "?" in rest:
        rest, _, query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            return GoURL(scheme=scheme, opaque=rest, query=query, fragment=fragment)
        if request:
            return None  # invalid URI for request
        if ":" in rest.partition("/")[0]:
            return None  # first path segment in URL cannot contain colon
    userinfo, host = None, ""
    if (scheme or (not request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        at = authority.rfind("@")
        if at >= 0:
            userinfo = authority[:at]
            if not all(c in _USERINFO_OK for c in userinfo) or _unescape(userinfo) is None:
                return None
        parsed = _parse_host(authority[at + 1:])
        if parsed is None:
            return None
        host = parsed
    path = _unescape(rest)
    if path is None:
        return None
    return GoURL(scheme=scheme, userinfo=userinfo, host=host, path=path, raw_path=rest, query=query,
                 fragment=fragment)


def escape_path(path: str) -> str:
    """go ``escape(path, encodePath)``."""
    return quote(path, safe=_PATH_SAFE, errors="surrogateescape")


def clean_path(p: str) -> str:
    """go ``ServeMux`` ``cleanPath``: the canonical path, a trailing slash kept."""
    if p == "":
        return "/"
    if p[0] != "/":
        p = "/" + p
    np = posixpath.normpath(p)
    if np.startswith("//"):  # posix keeps a leading "//"; go's path.Clean does not
        np = "/" + np.lstrip("/")
    if p.endswith("/") and np != "/":
        np += "/"
    return np
