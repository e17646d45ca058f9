"""MongoDB connection strings: checked without connecting, and the hosts they name, for messages
that must not show the credentials a connection string may carry."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

SCHEME = "mongodb://"
SRV_SCHEME = "mongodb+srv://"
# Options only a mongodb+srv:// string may carry; parse_uri refuses them on mongodb://.
_SRV_OPTIONS = frozenset({"srvservicename", "srvmaxhosts", "srvallowedhostssuffix"})


def check_mongodb_url(url: str) -> str:
    """The hosts `url` names, as `host:port[,host:port…]`; ValueError saying what is wrong with
    it otherwise.

    pymongo's own parser does the checking (hosts, ports, options and their values), so what
    passes here is what motor accepts. A `mongodb+srv://` string is checked as the plain string
    with the same host, since parsing it as given would look its SRV record up in DNS: nothing
    here may touch the network.
    """
    if url.startswith(SRV_SCHEME):
        return _check_srv(url)
    if not url.startswith(SCHEME):
        raise ValueError("must start with mongodb:// or mongodb+srv://")
    try:
        parsed = parse_uri(url, validate=True, warn=False)
    except (PyMongoError, ValueError) as exc:
        raise ValueError(f"not a valid MongoDB connection string: {exc}") from None
    return ",".join(f"{host}:{port}" for host, port in parsed["nodelist"])


def _check_srv(url: str) -> str:
    rest = url[len(SRV_SCHEME) :]
    authority, slash, path = rest.partition("/")
    if not slash:
        authority, question, query = rest.partition("?")
        path = question + query
    host = authority.rpartition("@")[2]
    if not host or "," in host or ":" in host:
        raise ValueError(
            "not a valid MongoDB connection string: a mongodb+srv:// string names exactly one "
            "host name, without a port"
        )
    base, _, query = path.partition("?")
    options = [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if name.lower() not in _SRV_OPTIONS
    ]
    plain = f"{SCHEME}{authority}/{base}" + (f"?{urlencode(options)}" if options else "")
    check_mongodb_url(plain)
    return host
