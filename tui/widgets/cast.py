"""The cast panel: who is on stage in a running stack — chain, contracts, accounts, signer and orchestrator URLs and
addresses, the sender's funds, the livepeer-gateway token and the SDK commands (docs/overview.md#the-actors).

It shows the cast document its caller passes to the app (``LpdevApp(cast=...)``; ``lpdev up`` passes the JSON it
writes to ``.lpdev/stack.json``). Known keys get a readable layout; keys it does not know are listed as they are,
so a newer document still shows everything. Amounts read as ETH (exact wei with the ``x`` key). All keys shown
are throwaway development keys.
"""
from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.model import DASH, fmt_wei

__all__ = ["CastPanel", "cast_renderable"]

_SHOWN = {"note", "backend", "eth_url", "chain_id", "controller", "contracts", "accounts", "signer_url",
          "signer_http_url", "signer_address", "signers", "orchestrators", "sender", "senders", "token",
          "discovery_token", "sdk_commands", "ticket", "pid"}
_MONEY = {"deposit", "reserve", "ev", "max_face_value", "face_value", "price", "price_per_unit"}


def _val(key: str, v: Any, exact: bool) -> str:
    if v is None or v == "":
        return DASH
    if key in _MONEY and isinstance(v, (int, str)) and not isinstance(v, bool):
        return fmt_wei(v, exact)
    if isinstance(v, (dict, list)):
        return ", ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else ", ".join(map(str, v))
    return str(v)


def _table(title: str) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", show_edge=False, pad_edge=False, expand=False,
              show_header=False, box=None)
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column(overflow="fold")
    return t


def cast_renderable(cast: dict, exact: bool = False) -> Group:
    """The cast document as Rich tables, most useful first: URLs and addresses, the token, funds and ticket
    economics, the chain and its contracts, the dev accounts, the SDK commands, anything else."""
    parts: list = []
    actors = _table("signers and orchestrators")
    for s in cast.get("signers") or ([{"name": "signer", "url": cast.get("signer_url"),
                                       "http_url": cast.get("signer_http_url"),
                                       "address": cast.get("signer_address")}] if cast.get("signer_url") else []):
        urls = " ".join(u for u in (s.get("url"), s.get("http_url")) if u)
        actors.add_row(str(s.get("name") or "signer"), f"{urls}  sender {s.get('address') or DASH}")
    for o in cast.get("orchestrators") or []:
        actors.add_row(str(o.get("name") or "orchestrator"), f"{o.get('url') or DASH}  {o.get('address') or DASH}")
    parts += [actors, Text("")]

    if cast.get("token") or cast.get("discovery_token"):
        tok = _table("livepeer-gateway token (the SDK's --token)")
        for key in ("token", "discovery_token"):
            if cast.get(key):
                tok.add_row(key.replace("_", " "), str(cast[key]))
        parts += [tok, Text("")]

    money = _table("sender funds on chain and ticket economics")
    for s in cast.get("senders") or ([cast["sender"]] if isinstance(cast.get("sender"), dict) else []):
        money.add_row(str(s.get("address") or "sender"),
                      f"deposit {_val('deposit', s.get('deposit'), exact)}   "
                      f"reserve {_val('reserve', s.get('reserve'), exact)}")
    ticket = cast.get("ticket")
    if isinstance(ticket, dict):
        money.add_row("tickets", "   ".join(f"{k.replace('_', ' ')} {_val(k, v, exact)}" for k, v in ticket.items()))
    parts += [money, Text("")]

    chain = _table("chain")
    for label, key in (("backend", "backend"), ("JSON-RPC", "eth_url"), ("chain id", "chain_id"),
                       ("Controller", "controller")):
        if key in cast:
            chain.add_row(label, _val(key, cast.get(key), exact))
    for name, addr in (cast.get("contracts") or {}).items():
        if name != "Controller":
            chain.add_row(name, str(addr))
    parts += [chain, Text("")]

    accounts = cast.get("accounts") or []
    if accounts:
        acc = _table("throwaway dev accounts (never send real funds)")
        for a in accounts:
            if isinstance(a, dict):
                acc.add_row(str(a.get("role") or a.get("name") or "account"),
                            f"{a.get('address') or DASH}  key {a.get('key') or a.get('private_key') or DASH}")
        parts += [acc, Text("")]

    cmds = cast.get("sdk_commands") or []
    if cmds:
        parts.append(Text("SDK commands", style="bold"))
        parts += [Text(f"  {c}") for c in cmds]
        parts.append(Text(""))

    rest = _table("more")
    for k, v in cast.items():
        if k not in _SHOWN:
            rest.add_row(k, _val(k, v, exact))
    if rest.row_count:
        parts.append(rest)
    if cast.get("note"):
        parts.append(Text(str(cast["note"]), style="dim"))
    return Group(*parts)


class CastPanel(VerticalScroll):
    """A scrollable view of the cast document; ``show(cast, exact)`` repaints it."""

    def compose(self):
        yield Static(id="cast-body")

    def show(self, cast: dict | None, exact: bool = False) -> None:
        body = self.query_one("#cast-body", Static)
        if not cast:
            body.update(Text("No cast: this view is filled by a running stack (lpdev up).", style="dim"))
        else:
            body.update(cast_renderable(cast, exact))
