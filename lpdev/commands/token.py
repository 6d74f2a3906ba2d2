"""`lpdev token`: print a livepeer-gateway token for the running `lpdev up` stack.

    lpdev token [--stack NAME | --config FILE] [--discovery-only] [--http] [--decode]

The token is what the SDK's ``--token`` takes: base64 of the JSON object ``{"orchestrators": [URL, ...], "signer":
URL}``. It reads the cast of the running `lpdev up` stack, from any folder: the only running one, or the one named
by --stack (`lpdev ps` lists them), or the file given to `lpdev up --config-out` (--config).
"""
from __future__ import annotations

import argparse
import base64
import json

from lpdev.cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("token", help="print a livepeer-gateway token for the running `lpdev up` stack",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="a cast JSON file from `lpdev up --config-out FILE`")
    p.add_argument("--stack", metavar="NAME", help="the running stack of that name (`lpdev ps`); default: the only "
                                                  "one running")
    p.add_argument("--discovery-only", action="store_true",
                   help="signer only, no orchestrator list: the SDK asks the signer's /discover-orchestrators "
                        "(start the stack with --remote-discovery)")
    p.add_argument("--http", action="store_true", help="use the signer's plain-HTTP URL instead of HTTPS")
    p.add_argument("--decode", action="store_true", help="print the token's JSON instead of the token")
    p.set_defaults(func=run)


def run(args) -> int:
    from stack.cast import CastError, find_cast, make_token

    try:
        doc = find_cast(args.config, args.stack)
    except CastError as exc:
        raise UsageError(str(exc)) from None
    path = args.config or f"the cast of stack {doc.get('name')!r}"
    signer = doc.get("signer_http_url") if args.http else doc.get("signer_url")
    if not signer:
        raise UsageError("the cast file has no signer URL of that kind")
    if args.discovery_only and not doc.get("remote_discovery"):
        raise UsageError("the stack was started without --remote-discovery: its signer has no "
                         "/discover-orchestrators; restart with `lpdev up --remote-discovery`")
    try:
        orchs = None if args.discovery_only else [o["url"] for o in doc["orchestrators"]]
    except (KeyError, TypeError):
        raise UsageError(f"{path}: an orchestrator entry has no \"url\": was it written by `lpdev up`?") from None
    if not isinstance(signer, str) or not all(isinstance(u, str) for u in orchs or ()):
        raise UsageError(f"{path}: signer and orchestrator URLs must be strings")
    token = make_token(orchs, signer)
    print(json.dumps(json.loads(base64.b64decode(token)), indent=2) if args.decode else token)
    return 0
