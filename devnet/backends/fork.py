"""The ``fork`` backend: a local anvil forking a live chain (Arbitrum One, or any chain with the Livepeer
contracts), prepared so lpdev's signer, orchestrators and gateway can pay and be paid on the REAL contracts.

:func:`open_fork` does what a developer would do by hand on a fork:

1. checks the upstream RPC answers (``--fork-url``; "cannot reach" names the cause) and that ``--fork-block``
   is not ahead of it;
2. takes the Controller from ``--controller``, or Arbitrum One's when the chain id is 42161 (any other chain
   must say which: "wrong chain"), and checks it has code at the fork block ("Controller not found");
3. starts anvil with ``--fork-url`` (and ``--fork-block-number``), keeping the upstream's chain id, and resolves
   every contract through ``Controller.getContract`` — nothing of lpdev's is assumed;
4. initializes the current round if the network's round initializer has not yet ("round not initializable"
   names the revert);
5. makes orchestrators payable: with ``orchestrator_address`` it impersonates that existing transcoder
   (``anvil_impersonateAccount``; it must be registered, and is waited for if it only becomes active next
   round); otherwise each dev orchestrator (``config.transcoders``) gets LPT from the Minter (impersonating the
   BondingManager, the only caller the Minter pays LPT to), enough to enter a full active set, bonds it to
   itself, calls ``transcoder(rewardCut, feeShare)``, and the chain is advanced to the round they are active in;
6. funds the dev sender's deposit and reserve on the real TicketBroker (``anvil_setBalance``, then
   ``fundDepositAndReserve`` from its own key);
7. deploys lpdev's ETH/USD feed (the fork's own, so ``lpdev chain eth-usd`` can move it) seeded with the
   upstream's price when it has a Chainlink ETH/USD feed (Arbitrum One's, or one registered as
   "EthUsdPriceFeed").

Everything happens on the local anvil: the upstream is only read. ``chain.fork`` describes the fork (url,
block, chain id, Controller, orchestrator) for banners and the stack document. Rounds on an Arbitrum One fork
are counted from anvil's ``block.number`` (the fork's L2 block numbers), so the round number jumps: round
arithmetic still holds, the numbers just differ from the network's.
"""
from __future__ import annotations

from dataclasses import replace

from eth_utils import to_checksum_address

from devnet.backends.evm import DEPLOY_GAS, EvmChain, _b20, _create_address, connect_http
from devnet.base import ChainError, ChainUnreachable, ContractNotFound
from devnet.build import load_artifact
from devnet.config import ETHER, USD_DECIMALS, DevnetConfig, eth_usd_answer
from devnet.layout import ARBITRUM_ONE, ETH_USD_DESCRIPTION
from devnet.rpc import RpcError

__all__ = ["open_fork", "default_controller"]

PROBE_TIMEOUT_S = 10.0
GAS_MONEY = 1000 * ETHER  # balance given to accounts the fork setup sends from


def default_controller(chain_id: int) -> str:
    """The Controller of a known network (Arbitrum One), else a ChainError saying to pass --controller."""
    if chain_id == ARBITRUM_ONE["chain_id"]:
        return ARBITRUM_ONE["Controller"]
    raise ChainError(f"chain id {chain_id} is not Arbitrum One ({ARBITRUM_ONE['chain_id']}), the only network "
                     "whose Controller lpdev knows: pass --controller ADDR (the Livepeer Controller on that chain), "
                     "or check --fork-url points at the chain you meant")


def _probe(fork_url: str, fork_block: int | None) -> tuple[int, int]:
    """(chain id, block to fork at) of the upstream; ChainUnreachable / ChainError naming the cause."""
    if not fork_url.startswith(("http://", "https://")):
        raise ChainUnreachable(f"--fork-url {fork_url!r} must be an http(s):// JSON-RPC URL")
    rpc = connect_http(fork_url, PROBE_TIMEOUT_S)
    try:
        chain_id, head = rpc.chain_id(), rpc.block_number()
    except RpcError as exc:
        raise ChainUnreachable(f"--fork-url {fork_url} answered {exc.method} with an error: {exc.message}") from None
    except Exception as exc:  # connection refused, DNS, timeout, not JSON-RPC
        raise ChainUnreachable(f"cannot reach --fork-url {fork_url}: {type(exc).__name__}: {exc}; is the URL right "
                               "and the node up?") from None
    finally:
        rpc.close_thread_conn()
    if fork_block is not None:
        if fork_block < 0:
            raise ChainError(f"--fork-block must be >= 0, got {fork_block}")
        if fork_block > head:
            raise ChainError(f"--fork-block {fork_block} is ahead of {fork_url}'s latest block {head}")
    return chain_id, head if fork_block is None else fork_block


def _require_controller(fork_url: str, controller: str, block: int, chain_id: int) -> str:
    try:
        controller = to_checksum_address(controller)
    except Exception:
        raise ContractNotFound(f"--controller {controller!r} is not an address (0x + 40 hex digits)") from None
    rpc = connect_http(fork_url, PROBE_TIMEOUT_S)
    try:
        code = rpc.request("eth_getCode", [controller, hex(block)])
    except Exception as exc:
        raise ChainUnreachable(f"cannot read the Controller from --fork-url {fork_url}: {exc}") from None
    finally:
        rpc.close_thread_conn()
    if code in (None, "0x", ""):
        raise ContractNotFound(f"Controller not found: no contract code at {controller} on {fork_url} at block "
                               f"{block} (chain id {chain_id}): wrong --controller, or not the chain you meant")
    return controller


def open_fork(fork_url: str, *, fork_block: int | None = None, controller: str | None = None,
              orchestrator_address: str | None = None, config: DevnetConfig | None = None,
              port: int | None = None) -> EvmChain:
    """Fork ``fork_url`` (at ``fork_block``) on a managed anvil and prepare it (see the module doc). The returned
    chain owns the anvil process; ``close()`` stops it. ``config``: the dev roles, the sender's deposit and reserve,
    the dev orchestrator's stake and cuts (the chain's own parameters — round length, unlock period — are the
    upstream's)."""
    from devnet.backends.anvil import AnvilProcess

    chain_id, block = _probe(fork_url, fork_block)
    controller = _require_controller(fork_url, controller or default_controller(chain_id), block, chain_id)
    config = replace(config or DevnetConfig(), chain_id=chain_id)  # the chain's own copy: the caller's is left as is
    extra = ["--fork-url", fork_url, "--fork-block-number", str(block)]
    proc = AnvilProcess.spawn(port=port, chain_id=chain_id, extra_args=extra)
    try:
        proc.wait_ready(60.0)  # the fork fetches state from the upstream on start
        chain = EvmChain(connect_http(proc.url, 30.0), backend="fork", config=config, eth_url=proc.url, process=proc)
        chain.fork = {"url": fork_url, "block": block, "chain_id": chain_id, "controller": controller}
        chain.resolve(controller)
        _prepare(chain, orchestrator_address)
        return chain
    except BaseException:
        proc.stop()
        raise


def _prepare(chain: EvmChain, orchestrator_address: str | None) -> None:
    cfg = chain.config
    for role in ("deployer", cfg.senders[0] if cfg.senders else "sender",
                 cfg.transcoders[0] if cfg.transcoders else "orchestrator"):
        chain.set_balance(chain.address(role), GAS_MONEY + cfg.sender_deposit + cfg.sender_reserve)
    _initialize_round(chain)
    orchs = ([_impersonate_orchestrator(chain, orchestrator_address)] if orchestrator_address
             else _activate_dev_orchestrators(chain))
    chain.fork["orchestrator"], chain.fork["orchestrators"] = orchs[0], orchs
    for role in cfg.senders:
        chain.set_balance(chain.address(role), GAS_MONEY + cfg.sender_deposit + cfg.sender_reserve)
        res = chain.fund_deposit_and_reserve(chain.key(role), cfg.sender_deposit, cfg.sender_reserve)
        if not res.ok:
            raise ChainError(f"funding the dev sender {chain.address(role)} on the fork's TicketBroker "
                             f"{chain.contracts['TicketBroker']} reverted: {res.revert_reason or '(no reason)'}")
    _deploy_feed(chain)


def _initialize_round(chain: EvmChain) -> None:
    """Initialize the current round if it is not (what the network's round initializer does)."""
    if chain.current_round_initialized():
        return
    res = chain.initialize_round(chain.config.key("deployer"))
    if not res.ok:
        raise ChainError(f"round {chain.current_round()} is not initialized on the fork and cannot be: "
                         f"initializeRound reverted with {res.revert_reason or '(no reason)'!r}"
                         + (" (the Controller is paused)" if chain.paused() else ""))


def _next_round(chain: EvmChain) -> None:
    """Mine to the next round's first block and initialize it (the transaction lands in that block)."""
    try:
        chain._advance(chain.config.key("deployer"))
    except ChainError as exc:
        raise ChainError(f"the next round cannot be initialized on the fork: {exc}") from None


def _impersonate_orchestrator(chain: EvmChain, address: str) -> dict:
    addr = to_checksum_address(_b20(address))
    a = _b20(addr)
    if not chain._view("BondingManager", "isRegisteredTranscoder", a):
        raise ChainError(f"--orchestrator-address {addr} is not a registered transcoder on the fork (block "
                         f"{chain.fork['block']}): it must be bonded to itself (`lpdev chain bond` on a chain you own)")
    chain.impersonate(addr)
    chain.set_balance(addr, GAS_MONEY)
    for _ in range(2):  # in the pool but only active from the next round: wait for it
        if chain.is_active_transcoder(a):
            break
        if addr.lower() not in [x.lower() for x in chain.transcoder_pool()]:
            raise ChainError(f"--orchestrator-address {addr} is registered but not in the active set (the pool is "
                             "full of transcoders with more stake)")
        _next_round(chain)
    if not chain.is_active_transcoder(a):
        raise ChainError(f"--orchestrator-address {addr} is in the transcoder pool but still not active after two "
                         f"rounds (round {chain.current_round()}): it cannot be paid on this fork; pass another "
                         "orchestrator, or none to bond a dev orchestrator")
    dev_role = next((r for r in chain.config.roles if chain.config.address(r) == addr), None)
    return {"address": addr, "impersonated": True, "dev_role": dev_role,
            "how": "impersonated (anvil_impersonateAccount)",
            "note": None if dev_role else "no key: its redemptions must be sent as the impersonated account"}


def _activate_dev_orchestrators(chain: EvmChain) -> list[dict]:
    """Every dev orchestrator (``config.transcoders``) that is not yet an active transcoder bonds enough LPT to enter
    the active set — more than its n-th smallest member when it is full, so the n dev orchestrators evict the n
    smallest and never each other — registers, and the chain advances to the round they are active in."""
    cfg = chain.config
    roles = list(cfg.transcoders) or ["orchestrator"]
    todo = [r for r in roles if not chain.is_active_transcoder(_b20(cfg.address(r)))]
    stake = cfg.transcoder_stake
    pool = chain.transcoder_pool()
    if todo and pool and len(pool) + len(todo) > chain._view("BondingManager", "getTranscoderPoolMaxSize"):
        nth_smallest = pool[max(0, len(pool) - len(todo))]
        stake = max(stake, chain.transcoder_info(_b20(nth_smallest)).total_stake + ETHER)
    if todo and chain._view("RoundsManager", "currentRoundLocked"):
        _next_round(chain)  # transcoder() is refused in a round's lock period
    for role in todo:
        key, me = cfg.key(role), _b20(cfg.address(role))
        _lpt_from_minter(chain, me, stake)
        for what, res in (("approve", lambda: chain.lpt_approve(key, stake)),
                          ("bond", lambda: chain.bond(key, stake, me)),
                          ("transcoder", lambda: chain.register_transcoder(key))):
            r = res()
            if not r.ok:
                raise ChainError(f"making the dev orchestrator {cfg.address(role)} a transcoder on the fork: {what} "
                                 f"reverted with {r.revert_reason or '(no reason)'!r}")
    if todo:
        _next_round(chain)
    out = []
    for role in roles:
        if not chain.is_active_transcoder(_b20(cfg.address(role))):
            raise ChainError(f"the dev orchestrator {cfg.address(role)} bonded {stake} LPT base units but is not "
                             "active in the next round")
        how = ("the dev orchestrator, bonded with LPT from the Minter and made active" if role in todo else
               "the dev orchestrator, already an active transcoder on the forked chain")
        out.append({"address": cfg.address(role), "impersonated": False, "dev_role": role, "how": how, "note": None})
    return out


def _lpt_from_minter(chain: EvmChain, to: bytes, amount: int) -> None:
    """Bonded LPT sits in the Minter, which pays it only to the BondingManager: impersonate that."""
    if chain.lpt_balance(to) >= amount:
        return
    bm = chain.contracts["BondingManager"]
    chain.impersonate(bm)
    chain.set_balance(bm, GAS_MONEY)
    res = chain.transact_as(bm, "Minter", "trustedTransferTokens", to, amount)
    if not res.ok:
        raise ChainError(f"getting {amount} LPT base units for the dev orchestrator from the Minter "
                         f"{chain.contracts['Minter']} reverted: {res.revert_reason or '(no reason)'}")


def _upstream_price(chain: EvmChain):
    """USD per ETH from the upstream's feed (lpdev's registered one, or Arbitrum One's Chainlink feed)."""
    from fractions import Fraction

    for addr in (chain.contracts.get("EthUsdPriceFeed"),
                 ARBITRUM_ONE["EthUsdChainlinkFeed"] if chain.chain_id == ARBITRUM_ONE["chain_id"] else None):
        if not addr:
            continue
        try:
            fn = chain._fn["EthUsdPriceFeed"]
            ok1, out1 = chain._raw_call(addr, fn["latestRoundData"].encode())
            ok2, out2 = chain._raw_call(addr, fn["decimals"].encode())
            if ok1 and ok2:
                answer, decimals = fn["latestRoundData"].decode(out1)[1], fn["decimals"].decode(out2)[0]
                if answer > 0:
                    return Fraction(answer, 10**decimals)
        except Exception:  # noqa: BLE001 - not a Chainlink feed: fall back to the config's price
            continue
    return None


def _deploy_feed(chain: EvmChain) -> None:
    """The fork's own ETH/USD feed (owned by the dev deployer, so it can be moved), seeded with the upstream's
    price rounded to the feed's 8 decimals."""
    from fractions import Fraction

    from eth_abi import encode

    price = _upstream_price(chain)
    if price is None:
        price = Fraction(eth_usd_answer(chain.config.eth_usd), 10**USD_DECIMALS)
    price = Fraction(round(price * 10**USD_DECIMALS), 10**USD_DECIMALS)
    dkey = chain.config.key("deployer")
    code = bytes.fromhex(load_artifact("EthUsdPriceFeed")["bytecode"][2:]) + encode(["uint8", "string"],
                                                                                       [USD_DECIMALS,
                                                                                        ETH_USD_DESCRIPTION])
    me = chain._sender_of(dkey)
    addr = _create_address(_b20(me), chain._next_nonce(me))
    chain._check_receipts([chain._send(dkey, None, code, gas=DEPLOY_GAS)], "deploy the fork's ETH/USD feed")
    chain.contracts["EthUsdPriceFeed"] = addr
    res = chain.set_eth_usd(price, key=dkey)
    if not res.ok:
        raise ChainError(f"seeding the fork's ETH/USD feed reverted: {res.revert_reason}")
