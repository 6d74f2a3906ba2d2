"""The two transports under :class:`devnet.backends.evm.EvmChain`, with one small interface:

- :class:`HttpRpc`: JSON-RPC over one kept-alive ``http.client`` connection per thread (anvil, external). About
  5x less latency per call than ``requests`` on loopback, a timeout on every call, no retries (one reconnect when
  the server closed an idle connection), and no web3 import on the hot start-up path.
- :class:`Web3Rpc`: the same calls through a ``web3.Web3`` (the embedded backend's ``EthereumTesterProvider``,
  or any provider a caller brings).

Receipts come back normalized: ``{"status", "gasUsed", "blockNumber", "logs": [{"topics", "data"}]}`` with ints.
Transport failures raise ``OSError`` / ``http.client`` errors (the chain turns them into ChainUnreachable /
AnvilCrashed); JSON-RPC error answers raise :class:`RpcError`.

``--eth-url`` may point anywhere: an answer is read within :data:`MAX_ANSWER_BYTES` (4 MiB; a non-200 answer within
:data:`MAX_ERROR_BYTES`, 64 KiB, before its status is reported) and parsed with :mod:`sim.wire.bounded` (nesting,
digits), so a hostile or broken endpoint gets a one-line ``HTTPException`` naming the method and the problem, never a
RecursionError. Memory, measured: parsing costs up to about 25 times the answer's size (4 MiB of ``[{},{},…]`` is
~100 MiB while it is parsed; a hex string about twice its size). ``anvil_dumpState`` alone
(:data:`BULK_METHODS`) may answer up to :data:`MAX_BULK_ANSWER_BYTES` (256 MiB: a busy chain's state is tens of
MiB): lpdev asks it only of an anvil it started itself; an endpoint that answered it with 256 MiB of small objects
could cost gigabytes.
"""
from __future__ import annotations

import http.client
import itertools
import json
import threading
import urllib.parse

from devnet import abi
from sim.wire import bounded

__all__ = ["RpcError", "HttpRpc", "Web3Rpc", "MAX_ANSWER_BYTES", "MAX_BULK_ANSWER_BYTES", "MAX_ERROR_BYTES",
           "BULK_METHODS"]

MAX_ANSWER_BYTES = 4 << 20  # one JSON-RPC answer (the largest lpdev asks for: contract code, 2 x 24 KiB as hex)
MAX_BULK_ANSWER_BYTES = 256 << 20  # anvil_dumpState of a busy chain is tens of MiB
BULK_METHODS = frozenset({"anvil_dumpState"})
MAX_ERROR_BYTES = 64 << 10  # a non-200 answer: read this much (for the connection's sake), then report the status


class RpcError(Exception):
    def __init__(self, method: str, error: dict):
        self.method = method
        self.code = error.get("code")
        self.data = error.get("data")
        self.message = str(error.get("message", error))
        super().__init__(f"{method}: {self.message}")


def _int(x) -> int:
    return int(x, 16) if isinstance(x, str) else int(x)


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _revert_from_error(err: RpcError) -> str | None:
    """The revert reason inside an eth_call error answer, or None if it is not a revert."""
    msg = err.message.lower()
    data = err.data
    if isinstance(data, dict):  # some nodes nest {"data": "0x..."}
        data = data.get("data")
    if "revert" in msg or err.code == 3:
        if isinstance(data, str) and data.startswith("0x"):
            return abi.decode_revert(data)
        if ": " in err.message:  # "execution reverted: reason" without data
            return err.message.split(": ", 1)[1]
        return ""
    return None


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


class HttpRpc:
    def __init__(self, url: str, timeout: float = 10.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self._https = u.scheme == "https"
        self._host = u.hostname or "127.0.0.1"
        self._port = u.port or (443 if self._https else 80)
        self._path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.timeout = timeout
        self._local = threading.local()
        self._ids = itertools.count(1)

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=self.timeout)
        return conn

    def _post(self, body: bytes, limit: int) -> bytes:
        for attempt in (0, 1):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._conn()
            try:
                conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                if resp.status != 200:
                    head = resp.read(MAX_ERROR_BYTES)
                    if not resp.isclosed():
                        self.close_thread_conn()  # the rest is unread: this connection cannot be reused
                    text = " ".join(head[:200].decode("utf-8", "replace").split())
                    raise http.client.HTTPException(f"HTTP {resp.status} {resp.reason}" + (f": {text}" if text else ""))
                data = resp.read(limit + 1)
                if len(data) > limit:
                    self.close_thread_conn()
                    raise http.client.HTTPException(f"JSON-RPC answer larger than {_size(limit)}")
                return data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close_thread_conn()
                if not reused or attempt:
                    raise
            except BaseException:
                self.close_thread_conn()
                raise
        raise AssertionError("unreachable")

    def close_thread_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def request(self, method: str, params: list):
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}).encode()
        limit = MAX_BULK_ANSWER_BYTES if method in BULK_METHODS else MAX_ANSWER_BYTES
        raw = self._post(body, limit)
        try:
            resp = bounded.loads_json(raw, what=f"answer to {method}", max_bytes=limit, replace_invalid=True)
        except bounded.BoundedInputError as exc:
            raise http.client.HTTPException(f"{exc} (first bytes {raw[:80]!r})") from None
        if not isinstance(resp, dict):
            raise http.client.HTTPException(f"answer to {method} is not a JSON-RPC object")
        if resp.get("error") is not None:
            raise RpcError(method, resp["error"] if isinstance(resp["error"], dict) else {"message": resp["error"]})
        if "result" not in resp:
            raise http.client.HTTPException(f"answer to {method} has no result: is this a JSON-RPC endpoint?")
        return resp["result"]

    # -- the interface
    def chain_id(self) -> int:
        return _int(self.request("eth_chainId", []))

    def block_number(self) -> int:
        return _int(self.request("eth_blockNumber", []))

    def gas_price(self) -> int:
        return _int(self.request("eth_gasPrice", []))

    def balance(self, addr: str) -> int:
        return _int(self.request("eth_getBalance", [addr, "latest"]))

    def code(self, addr: str) -> bytes:
        return bytes.fromhex(self.request("eth_getCode", [addr, "latest"])[2:])

    def nonce(self, addr: str) -> int:
        return _int(self.request("eth_getTransactionCount", [addr, "pending"]))

    def send_raw(self, raw: bytes) -> str:
        return self.request("eth_sendRawTransaction", [_hex(raw)])

    def receipt(self, tx_hash: str) -> dict | None:
        rc = self.request("eth_getTransactionReceipt", [tx_hash])
        if rc is None:
            return None
        return {"status": _int(rc["status"]), "gasUsed": _int(rc["gasUsed"]), "blockNumber": _int(rc["blockNumber"]),
                "logs": [{"topics": lg["topics"], "data": lg["data"]} for lg in rc.get("logs", [])]}

    def call(self, to: str, data: bytes, sender: str, value: int, block) -> tuple[bool, bytes | str]:
        tx = {"from": sender, "to": to, "data": _hex(data)}
        if value:
            tx["value"] = hex(value)
        blk = hex(block) if isinstance(block, int) else block
        try:
            return True, bytes.fromhex(self.request("eth_call", [tx, blk])[2:])
        except RpcError as err:
            reason = _revert_from_error(err)
            if reason is None:
                return False, err.message  # not a revert (e.g. insufficient funds): report the node's words
            return False, reason


class Web3Rpc:
    """Adapter over a ``web3.Web3`` (used by the embedded backend with EthereumTesterProvider)."""

    def __init__(self, w3):
        self.w3 = w3
        self.url = None

    def request(self, method: str, params: list):
        resp = self.w3.provider.make_request(method, params)
        if resp.get("error") is not None:
            raise RpcError(method, resp["error"] if isinstance(resp["error"], dict) else {"message": resp["error"]})
        return resp.get("result")

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def gas_price(self) -> int:
        return int(self.w3.eth.gas_price)

    def balance(self, addr: str) -> int:
        return int(self.w3.eth.get_balance(addr))

    def code(self, addr: str) -> bytes:
        return bytes(self.w3.eth.get_code(addr))

    def nonce(self, addr: str) -> int:
        return int(self.w3.eth.get_transaction_count(addr, "pending"))

    def send_raw(self, raw: bytes) -> str:
        return _hex(self.w3.eth.send_raw_transaction(raw))

    def receipt(self, tx_hash: str) -> dict | None:
        from web3.exceptions import TransactionNotFound

        try:
            rc = self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None
        return {"status": int(rc["status"]), "gasUsed": int(rc["gasUsed"]), "blockNumber": int(rc["blockNumber"]),
                "logs": [{"topics": [bytes(t) for t in lg["topics"]], "data": bytes(lg["data"])}
                         for lg in rc["logs"]]}

    def call(self, to: str, data: bytes, sender: str, value: int, block) -> tuple[bool, bytes | str]:
        from web3.exceptions import ContractLogicError

        tx = {"from": sender, "to": to, "data": _hex(data)}
        if value:
            tx["value"] = value
        try:
            return True, bytes(self.w3.eth.call(tx, block))
        except ContractLogicError as exc:
            return False, abi.decode_revert(exc.data if isinstance(exc.data, (str, bytes)) else None)
